//! What exit status 0 promises when the tools share file pages with their output pipe: once a
//! tool has exited 0, changing or truncating the source changes nothing the reader gets, and a
//! source that shrank under a shared copy is reported, never passed off as data.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

/// The file systems the page-sharing cases run on: tmpfs (large folios) and the disk.
fn dirs() -> Vec<tempfile::TempDir> {
    let mut v = vec![tempfile::tempdir().unwrap()];
    match tempfile::tempdir_in("/dev/shm") {
        Ok(d) => v.push(d),
        Err(e) => skip(format!("tmpfs case, /dev/shm unusable: {e}")),
    }
    v
}

fn pipe() -> (OwnedFd, OwnedFd) {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap()
}

/// Runs `splice ARGS` with stdin from `stdin` (a file) or nothing and stdout into a fresh
/// default-sized pipe; returns the child and the pipe's read end.
fn spawn(args: &[&str], dir: &Path, stdin: Option<&Path>) -> (std::process::Child, OwnedFd) {
    let (r, w) = pipe();
    let mut c = Command::new(splice());
    c.args(args)
        .current_dir(dir)
        .stdout(Stdio::from(w))
        .stderr(Stdio::piped());
    match stdin {
        Some(p) => c.stdin(std::fs::File::open(p).unwrap()),
        None => c.stdin(Stdio::null()),
    };
    (c.spawn().unwrap(), r)
}

fn read_all(r: OwnedFd) -> Vec<u8> {
    let mut out = Vec::new();
    std::fs::File::from(r).read_to_end(&mut out).unwrap();
    out
}

/// Overwrites the first bytes of `path` in place (no truncation), as `dd conv=notrunc` does.
fn scribble(path: &Path) {
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all(b"XXXXXXXX").unwrap();
}

const TOOLS: [(&str, &[&str], bool); 5] = [
    ("cat", &["cat", "f"], false),
    ("cat -u", &["cat", "-u", "f"], false),
    ("cat stdin", &["cat"], true),
    ("tee", &["tee"], true),
    ("pv -q", &["pv", "-q", "f"], false),
];

#[test]
fn a_file_changed_after_exit_0_does_not_change_what_the_reader_gets() {
    for d in dirs() {
        for n in [1, 4095, 4097, 65536, 200_000] {
            for (name, args, from_stdin) in TOOLS {
                let f = d.path().join("f");
                let original = data(n);
                std::fs::write(&f, &original).unwrap();
                let (child, r) = spawn(args, d.path(), from_stdin.then_some(&*f));
                let (code, err) = finish(child);
                assert_eq!(code, Some(0), "{name} {n}: {err}");
                // The tool has exited 0: its promise is made. Now the file changes.
                scribble(&f);
                let got = read_all(r);
                assert_eq!(
                    sha(&got),
                    sha(&original),
                    "{name}, {n} bytes in {:?}: the reader saw the file's later content",
                    d.path()
                );
            }
        }
    }
}

/// Waits until the pipe holds at least `n` bytes (the writer is then blocked or done).
fn wait_queued(r: &OwnedFd, n: u64) {
    let t0 = Instant::now();
    while rustix::io::ioctl_fionread(r.as_fd()).unwrap() < n {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the pipe never filled"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // Let the writer block on the full pipe with its next chunk taken.
    std::thread::sleep(Duration::from_millis(200));
}

/// logrotate's copytruncate while `splice cat app.log | gzip` runs: a 64 MiB file cut to
/// 1,000,000 bytes after more than that was shared into the pipe.
#[test]
fn a_file_truncated_under_a_shared_copy_is_reported_not_padded() {
    let cases: [(&str, &[&str], bool, &str); 3] = [
        (
            "cat",
            &["cat", "f"],
            false,
            "cat: f: file truncated while being read\n",
        ),
        (
            "tee",
            &["tee"],
            true,
            "tee: read error: file truncated while being read\n",
        ),
        (
            "pv",
            &["pv", "-q", "f"],
            false,
            "pv: f: read failed: file truncated while being read\n",
        ),
    ];
    for d in dirs() {
        for (name, args, from_stdin, msg) in cases {
            let f = d.path().join("f");
            let original = data(64 << 20);
            std::fs::write(&f, &original).unwrap();
            let (child, r) = spawn(args, d.path(), from_stdin.then_some(&*f));
            wait_queued(&r, 60_000);
            let file = std::fs::OpenOptions::new().write(true).open(&f).unwrap();
            file.set_len(1_000_000).unwrap();
            drop(file);
            let got = read_all(r);
            let (code, err) = finish(child);
            // Exit 0 would promise that every byte is what the file held; the file now holds
            // 1,000,000 bytes and the tool had shared more than that.
            assert_eq!(err, msg, "{name} in {:?}", d.path());
            assert_eq!(code, Some(if name == "pv" { 16 } else { 1 }), "{name}");
            assert!(got.len() >= 1_000_000, "{name}: {} bytes", got.len());
            assert_eq!(
                sha(&got[..1_000_000]),
                sha(&original[..1_000_000]),
                "{name}"
            );
        }
    }
}

/// A file that was already short when the tool reached it is copied as it is, exit 0, as
/// GNU cat does: nothing was shared past its end.
#[test]
fn a_file_truncated_before_it_is_read_is_copied_as_it_stands() {
    let d = Dir::new();
    let a = d.file("a", &data(3 << 20));
    d.file("b", &data(2 << 20));
    let (mut child, r) = spawn(&["cat", "a", "b"], d.path(), None);
    wait_queued(&r, 60_000);
    std::fs::OpenOptions::new()
        .write(true)
        .open(d.path().join("b"))
        .unwrap()
        .set_len(1000)
        .unwrap();
    let got = read_all(r);
    assert!(child.wait().unwrap().success());
    let mut want = std::fs::read(a).unwrap();
    want.extend_from_slice(&data(2 << 20)[..1000]);
    assert_eq!(sha(&got), sha(&want));
}

/// Several inputs: a file's end may be spliced when enough output follows it to push its
/// pages out of the pipe before `cat` exits; the promise holds for every file.
#[test]
fn several_files_changed_after_exit_0_do_not_change_what_the_reader_gets() {
    for d in dirs() {
        let sizes = [700_000usize, 200_000, 3 << 20, 5, (1 << 20) + 1, 65536];
        let names: Vec<String> = (0..sizes.len()).map(|i| format!("f{i}")).collect();
        let mut want = Vec::new();
        for (n, name) in sizes.iter().zip(&names) {
            let c = data(*n + name.len());
            std::fs::write(d.path().join(name), &c).unwrap();
            want.extend_from_slice(&c);
        }
        let mut args = vec!["cat"];
        args.extend(names.iter().map(String::as_str));
        let (mut child, r) = spawn(&args, d.path(), None);
        let reader = std::thread::spawn(move || {
            // A reader that falls behind: what it takes late is what cat left in the pipe.
            std::thread::sleep(Duration::from_millis(300));
            read_all(r)
        });
        assert!(child.wait().unwrap().success());
        for name in &names {
            scribble(&d.path().join(name));
        }
        assert_eq!(sha(&reader.join().unwrap()), sha(&want), "{:?}", d.path());
    }
}

/// A file whose shared end still sat in the pipe while `cat` went on with the next one, cut
/// before the reader got there: reported, status 1.
#[test]
fn an_earlier_file_cut_while_its_end_waits_in_the_pipe_is_reported() {
    let d = Dir::new();
    let (a, b) = (data(8 << 20), data(4 << 20));
    d.file("a", &a);
    d.file("b", &b);
    let (child, r) = spawn_into_pipe(&["cat", "a", "b"], d.path(), 1 << 20);
    let mut rf = std::fs::File::from(r);
    let mut got = vec![0u8; 7 << 20];
    rf.read_exact(&mut got).unwrap();
    // Now the pipe fills with a's last MiB while cat waits to write b behind it.
    let probe = rf.try_clone().unwrap();
    let t0 = Instant::now();
    while rustix::io::ioctl_fionread(&probe).unwrap() < 1 << 20 {
        assert!(t0.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(200));
    std::fs::OpenOptions::new()
        .write(true)
        .open(d.path().join("a"))
        .unwrap()
        .set_len(100)
        .unwrap();
    rf.read_to_end(&mut got).unwrap();
    let (code, err) = finish(child);
    assert_eq!(err, "cat: a: file truncated while being read\n");
    assert_eq!(code, Some(1));
    assert_eq!(sha(&got[..100]), sha(&a[..100]));
}

/// `splice pv -L` moves a file in small chunks and sleeps between them; a file cut during a
/// sleep is seen by the next chunk only as EOF — pv still reports it, as the shared bytes
/// already in the pipe no longer match the file.
#[test]
fn pv_reports_a_file_cut_between_its_chunks() {
    let d = Dir::new();
    let content = data(8 << 20);
    d.file("f", &content);
    let (child, r) = spawn_into_pipe(&["pv", "-q", "-L", "512K", "f"], d.path(), 1 << 20);
    wait_queued(&r, 300_000);
    std::fs::OpenOptions::new()
        .write(true)
        .open(d.path().join("f"))
        .unwrap()
        .set_len(100_000)
        .unwrap();
    let got = read_all(r);
    let (code, err) = finish(child);
    assert_eq!(err, "pv: f: read failed: file truncated while being read\n");
    assert_eq!(code, Some(16));
    assert_eq!(sha(&got[..100_000]), sha(&content[..100_000]));
}
