//! Resource limits never mean lost output: out of descriptors, the tools fall back to
//! read/write for what they cannot splice; a refused `madvise` only costs speed; and the
//! caller's pipe keeps the size the caller gave it.

use std::io::Read;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};

use crate::util::*;

/// GNU tee and ours under the same `ulimit -n`, for every limit from "not even the outputs
/// open" to "plenty": same stderr, status and files.
#[test]
fn tee_matches_gnu_tee_at_every_descriptor_limit() {
    let input = data((3 << 20) + 5);
    let outs = "o1 o2 o3 o4 o5 o6 o7 o8 o9 o10 o11";
    for limit in 12..=20 {
        for (what, feed) in [("pipe", "cat in |"), ("file", "")] {
            let script = if feed.is_empty() {
                format!("(ulimit -n {limit}; $T {outs} < in > /dev/null)")
            } else {
                format!("(ulimit -n {limit}; {feed} $T {outs} > /dev/null)")
            };
            let run = |t: &str| {
                let d = Dir::new();
                d.file("in", &input);
                let o = sh(&format!("T=\"{t}\"; {script}"), d.path());
                (
                    String::from_utf8_lossy(&o.stderr).into_owned(),
                    o.status.code(),
                    listing(d.path()),
                )
            };
            let (gnu, ours) = (run("tee"), run("$S tee"));
            assert_eq!(ours, gnu, "ulimit -n {limit}, input from a {what}");
        }
    }
}

/// With no descriptor left for a broker pipe, tee falls back to a plain read/write fan-out:
/// every output byte-exact at the boundary sizes, as GNU tee leaves them.
#[test]
fn tee_without_pipes_is_byte_exact_at_the_boundary_sizes() {
    for n in SIZES.into_iter().chain([(3 << 20) + 1]) {
        let run = |t: &str| {
            let d = Dir::new();
            d.file("in", &data(n));
            let o = sh(
                &format!("T=\"{t}\"; (ulimit -n 12; $T o1 o2 o3 o4 o5 o6 o7 o8 < in | cat > out)"),
                d.path(),
            );
            (o.status.code(), listing(d.path()))
        };
        assert_eq!(run("$S tee"), run("tee"), "{n} bytes");
    }
}

#[test]
fn gen_and_cat_work_with_four_descriptors() {
    let d = Dir::new();
    d.file("f", &data((3 << 20) + 1));
    let o = sh(
        "(ulimit -n 4; $S gen -c 3M > g) && yes | head -c 3M | cmp - g && echo same",
        d.path(),
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "same\n", "{o:?}");
    assert!(o.stderr.is_empty(), "{o:?}");
    // The limit for splice alone: the shell needs descriptors for its own pipe.
    let o = sh(
        "bash -c 'ulimit -n 4; exec $S cat f' | cat > out && cmp f out && echo same",
        d.path(),
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "same\n", "{o:?}");
}

/// `MADV_HUGEPAGE` refused (a kernel without THP): base pages, same bytes, status 0.
#[test]
fn gen_works_when_madvise_is_refused() {
    if !have_strace() {
        return;
    }
    let d = Dir::new();
    for pages in ["2m", "4k"] {
        let o = sh(
            &format!(
                "strace -f -o /dev/null -e inject=madvise:error=EINVAL \
                 $S gen -c 5M --pages {pages} | cmp - <(yes | head -c 5M) && echo same"
            ),
            d.path(),
        );
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "same\n",
            "{pages}: {o:?}"
        );
        assert!(o.stderr.is_empty(), "{pages}: {o:?}");
    }
}

/// Runs `splice ARGS` into a pipe of `cap` bytes (0: the kernel default) while reading it;
/// returns the pipe's capacity after the tool exited, and the bytes.
fn pipe_after(args: &[&str], dir: &std::path::Path, cap: usize) -> (usize, Vec<u8>) {
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
    if cap > 0 {
        rustix::pipe::fcntl_setpipe_size(&w, cap).unwrap();
    }
    let mut child = Command::new(splice())
        .args(args)
        .current_dir(dir)
        .stdin(std::fs::File::open(dir.join("f")).unwrap())
        .stdout(Stdio::from(w))
        .spawn()
        .unwrap();
    let probe = r.try_clone().unwrap();
    let mut got = Vec::new();
    std::fs::File::from(r).read_to_end(&mut got).unwrap();
    assert!(child.wait().unwrap().success(), "{args:?}");
    (
        rustix::pipe::fcntl_getpipe_size(probe.as_fd()).unwrap(),
        got,
    )
}

#[test]
fn the_callers_pipe_keeps_the_size_the_caller_chose() {
    let d = Dir::new();
    let content = data((2 << 20) + 7);
    d.file("f", &content);
    let yes3m = sh("yes | head -c 3M", d.path()).stdout;
    let cases: [(&[&str], &[u8]); 6] = [
        (&["cat", "f"], &content),
        (&["cat"], &content),
        (&["tee"], &content),
        (&["pv", "-q", "f"], &content),
        (&["gen", "-c", "3M"], &yes3m),
        (&["cat", "-n", "/dev/null", "f"], b""),
    ];
    for (args, want) in cases {
        for cap in [4096, 16384, 512 << 10] {
            let (after, got) = pipe_after(args, d.path(), cap);
            assert_eq!(after, cap, "{args:?} changed a {cap}-byte pipe");
            if !want.is_empty() {
                assert_eq!(sha(&got), sha(want), "{args:?} into {cap}");
            }
        }
        // A pipe at the kernel's default size may be grown (documented), never shrunk.
        let (after, got) = pipe_after(args, d.path(), 0);
        assert!(after >= 65536, "{args:?}: {after}");
        if !want.is_empty() {
            assert_eq!(sha(&got), sha(want), "{args:?} into a default pipe");
        }
    }
    // An explicit --pipe-size is a request, and is honoured.
    let (after, _) = pipe_after(&["gen", "-c", "1M", "--pipe-size", "256K"], d.path(), 4096);
    assert_eq!(after, 256 << 10);
}
