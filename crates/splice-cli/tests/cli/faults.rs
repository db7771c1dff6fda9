//! System calls made to fail with strace's fault injection: `splice cat` still produces
//! byte-exact output, or a GNU-style error naming the input or the output side.

use std::process::{Command, Output, Stdio};

use crate::util::*;

/// Runs `splice cat ARGS` under strace with `inject`, stdout to a pipe read by this process
/// (or to `out` when given).
fn traced(
    inject: &str,
    args: &[&str],
    out: Option<&std::path::Path>,
    dir: &std::path::Path,
) -> Output {
    let mut c = Command::new("strace");
    c.args([
        "-f",
        "-o",
        "/dev/null",
        "-e",
        &format!("inject={inject}"),
        splice(),
        "cat",
    ]);
    c.args(args).current_dir(dir).stdin(Stdio::null());
    if let Some(p) = out {
        c.stdout(std::fs::File::create(p).unwrap());
    }
    c.output().unwrap()
}

#[test]
fn refused_primitives_fall_back_with_identical_output() {
    if !have_strace() {
        return;
    }
    let d = Dir::new();
    let content = data((3 << 20) + 4097);
    d.file("src", &content);
    let shm = tempfile::tempdir_in("/dev/shm").unwrap();
    let other_fs = shm.path().join("out");
    let same_fs = d.path().join("out");
    for call in ["splice", "sendfile", "copy_file_range", "pipe2"] {
        for err in ["ENOSYS", "EPERM", "EINVAL", "EOPNOTSUPP", "EXDEV", "EMFILE"] {
            let inject = format!("{call}:error={err}");
            for sink in [None, Some(same_fs.as_path()), Some(other_fs.as_path())] {
                let o = traced(&inject, &["src"], sink, d.path());
                let what = format!("{inject} into {sink:?}");
                assert!(
                    o.status.success(),
                    "{what}: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                let got = match sink {
                    Some(p) => std::fs::read(p).unwrap(),
                    None => o.stdout,
                };
                assert_eq!(sha(&got), sha(&content), "{what}");
            }
        }
    }
}

#[test]
fn interrupted_and_would_block_calls_are_retried() {
    if !have_strace() {
        return;
    }
    let d = Dir::new();
    let content = data((2 << 20) + 1);
    d.file("src", &content);
    for inject in [
        "splice:error=EINTR:when=2",
        "splice:error=EAGAIN:when=2",
        "splice:error=EAGAIN:when=3",
    ] {
        let o = traced(inject, &["src"], None, d.path());
        assert!(
            o.status.success(),
            "{inject}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(sha(&o.stdout), sha(&content), "{inject}");
    }
    let gnu = Command::new("cat")
        .args(["-n", "src"])
        .current_dir(d.path())
        .output()
        .unwrap();
    let o = traced("write:error=EINTR:when=1", &["-n", "src"], None, d.path());
    assert_eq!(sha(&o.stdout), sha(&gnu.stdout), "formatting path, write");
    // Reads: aimed past the dynamic loader's and the runtime's own (their number depends on
    // the libraries linked), at the first read of the input and every second one after it.
    let n = reads_before_input(&["-n", "src"], d.path());
    let inject = format!("read:error=EINTR:when={}+2", n + 1);
    let o = traced(&inject, &["-n", "src"], None, d.path());
    assert!(
        o.status.success(),
        "{inject}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        sha(&o.stdout),
        sha(&gnu.stdout),
        "formatting path, {inject}"
    );
}

/// How many `read(2)` calls `splice cat ARGS` makes before it opens "src".
fn reads_before_input(args: &[&str], dir: &std::path::Path) -> usize {
    calls_before_input("read", args, dir)
}

/// How many `call`s `splice cat ARGS` makes before it opens "src" (the loader's own reads).
fn calls_before_input(call: &str, args: &[&str], dir: &std::path::Path) -> usize {
    let log = dir.join("reads.trace");
    let st = Command::new("strace")
        .args(["-f", "-e", &format!("trace={call},openat"), "-o"])
        .arg(&log)
        .arg(splice())
        .arg("cat")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let text = std::fs::read_to_string(&log).unwrap();
    let before = text
        .split("openat(AT_FDCWD, \"src\"")
        .next()
        .expect("splice cat opened src");
    assert!(before.len() < text.len(), "src never opened: {text}");
    before
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .any(|w| w.starts_with(&format!("{call}(")))
        })
        .count()
}

#[test]
fn a_failure_after_bytes_moved_names_the_side_that_failed() {
    if !have_strace() {
        return;
    }
    let d = Dir::new();
    let content = data(3 << 20);
    d.file("big", &content);
    // file -> stdout pipe runs through the broker: odd splice calls read the file, even ones
    // write stdout. Each hop moves the 1 MiB the pipes hold.
    for (when, msg) in [
        (3, "cat: big: Input/output error\n"),
        (4, "cat: write error: Input/output error\n"),
    ] {
        let o = traced(
            &format!("splice:error=EIO:when={when}"),
            &["big"],
            None,
            d.path(),
        );
        assert_eq!(o.status.code(), Some(1), "when={when}");
        assert_eq!(String::from_utf8_lossy(&o.stderr), msg, "when={when}");
        assert_eq!(
            sha(&o.stdout),
            sha(&content[..1 << 20]),
            "when={when}: the first MiB arrived"
        );
    }
    // A later operand is not attempted after a write error, as in GNU cat.
    let o = traced("splice:error=EPIPE:when=2", &["big", "big"], None, d.path());
    assert_ne!(o.status.code(), Some(0));
}

/// Error attribution on the other paths: a character-device input into a pipe (the broker's
/// two splices), and single-call sendfile into /dev/null, where one call reads and writes —
/// there the source is asked for one more byte, and only a source that fails it is blamed.
#[test]
fn char_device_inputs_and_dev_null_sinks_name_the_failing_side() {
    if !have_strace() {
        return;
    }
    let d = Dir::new();
    d.file("src", &data(3 << 20));
    let run = |injects: &[String], input: &str, sink: Option<&std::path::Path>| {
        let mut c = Command::new("strace");
        c.args(["-f", "-o", "/dev/null"]);
        for i in injects {
            c.args(["-e", &format!("inject={i}")]);
        }
        c.args([splice(), "cat", input])
            .current_dir(d.path())
            .stdin(Stdio::null());
        if let Some(p) = sink {
            c.stdout(std::fs::OpenOptions::new().write(true).open(p).unwrap());
        }
        let o = c.output().unwrap();
        (
            String::from_utf8_lossy(&o.stderr).into_owned(),
            o.status.code(),
        )
    };
    let null = std::path::Path::new("/dev/null");
    // /dev/zero -> pipe: odd splices read /dev/zero, even ones write stdout (the first pair
    // may still fall back, as nothing has moved yet).
    for (when, msg) in [
        (3, "cat: /dev/zero: Input/output error\n"),
        (4, "cat: write error: Input/output error\n"),
    ] {
        let r = run(
            &[format!("splice:error=EIO:when={when}")],
            "/dev/zero",
            None,
        );
        assert_eq!(
            r,
            (msg.to_string(), Some(1)),
            "/dev/zero, splice call {when}"
        );
    }
    // sendfile into /dev/null fails after its first call moved bytes: the source reads fine,
    // so it is the write side (GNU cat's words for it).
    for input in ["src", "/dev/zero"] {
        let r = run(&["sendfile:error=EIO:when=2".into()], input, Some(null));
        let want = "cat: write error: Input/output error\n".to_string();
        assert_eq!(r, (want, Some(1)), "{input} -> /dev/null");
    }
    // The same failure when the source does not read either: the input is named.
    let loader = calls_before_input("pread64", &["src"], d.path());
    let probe = format!("pread64:error=EIO:when={}", loader + 1);
    let r = run(
        &["sendfile:error=EIO:when=2".into(), probe],
        "src",
        Some(null),
    );
    assert_eq!(r, ("cat: src: Input/output error\n".to_string(), Some(1)));
}
