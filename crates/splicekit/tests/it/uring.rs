//! The io_uring backend (feature `io-uring`): the ring's own calls, the matrix's descriptor
//! pairs through `Backend::Uring` checked by hash and against the blocking path's report, and
//! the fallback when `io_uring_setup` fails (strace fault injection).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::process::{Command, Stdio};

use splicekit::uring::{engine_completions, Ring, SpliceOp};
use splicekit::{copy_with, Backend, CopyOptions, CopyReport, FilePages, SpliceFlags, Strategy};

use crate::matrix::{collect, sink, source, Dst, Src};
use crate::util::*;

/// A ring, or `None` after saying why this machine has none.
fn ring() -> Option<Ring> {
    match Ring::new(4) {
        Ok(r) => Some(r),
        Err(e) => {
            skip(format!(
                "io_uring unavailable here ({e}); only the fallback is checked"
            ));
            None
        }
    }
}

fn pipe() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    splicekit::sys::pipe(splicekit::PipeFlags::CLOEXEC).unwrap()
}

#[test]
fn ring_splices_a_file_into_a_pipe_at_an_offset() {
    let Some(mut ring) = ring() else { return };
    for n in SIZES.into_iter().chain([3 << 20 | 1]) {
        let content = data(n + 7);
        let f = ext4_file(&content);
        let (r, w) = pipe();
        let reader = reader_thread(File::from(r));
        let mut at = 7u64;
        loop {
            let op = SpliceOp::new(f.as_fd(), w.as_fd(), 1 << 20).off_in(&mut at);
            if ring.splice(op.flags(SpliceFlags::MOVE)).unwrap() == 0 {
                break;
            }
        }
        drop(w);
        assert_eq!(at, content.len() as u64, "{n}: offset advanced");
        assert_eq!(sha(&reader.join().unwrap()), sha(&content[7..]), "{n}");
        // The file position did not move (an offset was given).
        use std::io::Seek;
        assert_eq!((&f).stream_position().unwrap(), 0, "{n}");
    }
}

#[test]
fn ring_tee_duplicates_without_consuming() {
    let Some(mut ring) = ring() else { return };
    for n in SIZES {
        let content = data(n);
        let (ar, aw) = pipe();
        let (br, bw) = pipe();
        for end in [&aw, &bw] {
            splicekit::sys::set_pipe_capacity(end, 1 << 20).unwrap(); // n fits unread
        }
        File::from(aw).write_all(&content).unwrap();
        let mut teed = 0;
        while teed < n {
            let k = ring.tee(&ar, &bw, n - teed, SpliceFlags::NONBLOCK);
            teed += k.unwrap();
        }
        assert_eq!(ring.tee(&ar, &bw, 0, SpliceFlags::empty()).unwrap(), 0);
        drop(bw);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        File::from(ar).read_to_end(&mut a).unwrap();
        File::from(br).read_to_end(&mut b).unwrap();
        assert_eq!((sha(&a), sha(&b)), (sha(&content), sha(&content)), "{n}");
    }
}

/// A short first hop cancels the second (`ECANCELED`, nothing moved); the bytes it took sit
/// in the pipe for exactly one more splice. A full first hop lets the second run.
#[test]
fn linked_hops_cancel_the_second_after_a_short_first() {
    let Some(mut ring) = ring() else { return };
    let content = data(10_000);
    let f = ext4_file(&content);
    let out = tempfile::tempfile().unwrap();
    let (r, w) = pipe();
    let (mut at, mut put) = (0u64, 0u64);
    let first = SpliceOp::new(f.as_fd(), w.as_fd(), 65536).off_in(&mut at);
    let second = SpliceOp::new(r.as_fd(), out.as_fd(), 65536).off_out(&mut put);
    let [a, b] = ring.splice_linked(first, second).unwrap();
    assert_eq!(a.unwrap(), 10_000);
    assert_eq!(b.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
    assert_eq!(put, 0, "a cancelled hop advances nothing");
    let rest = SpliceOp::new(r.as_fd(), out.as_fd(), 10_000).off_out(&mut put);
    assert_eq!(ring.splice(rest).unwrap(), 10_000);

    let first = SpliceOp::new(f.as_fd(), w.as_fd(), 4096).off_in(&mut at);
    let [a, b] = ring
        .splice_linked(first, SpliceOp::new(r.as_fd(), out.as_fd(), 4096))
        .unwrap();
    assert_eq!(a.unwrap(), 0, "EOF");
    let b = b.unwrap_err().raw_os_error();
    assert_eq!(
        b,
        Some(libc::ECANCELED),
        "EOF is short: the second hop never waits"
    );
    let mut at = 4096u64;
    let first = SpliceOp::new(f.as_fd(), w.as_fd(), 4096).off_in(&mut at);
    let second = SpliceOp::new(r.as_fd(), out.as_fd(), 4096).off_out(&mut put);
    let [a, b] = ring.splice_linked(first, second).unwrap();
    assert_eq!(
        (a.unwrap(), b.unwrap(), at, put),
        (4096, 4096, 8192, 14_096)
    );
    let mut want = content.clone();
    want.extend_from_slice(&content[4096..8192]);
    assert_eq!(sha(&read_file(&out)), sha(&want));
}

/// An offset that does not fit an entry (it would read as "no offset") is refused.
#[test]
fn ring_refuses_offsets_beyond_i64() {
    let Some(mut ring) = ring() else { return };
    let f = ext4_file(b"abc");
    let (_r, w) = pipe();
    let mut at = u64::MAX;
    let op = SpliceOp::new(f.as_fd(), w.as_fd(), 3).off_in(&mut at);
    let e = ring.splice(op).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    assert!(!ring.is_broken());
}

/// One cell through `backend`: the bytes that arrive, hashed, and the report.
fn cell(src: Src, dst: Dst, n: usize, mode: FilePages, backend: Backend) -> CopyReport {
    let what = format!("{src:?} -> {dst:?}, {n} bytes, {mode:?}, {backend:?}");
    let s = source(src, n);
    let (out, c) = sink(dst, n);
    let opts = CopyOptions {
        len: s.len,
        file_pages: mode,
        backend,
        ..CopyOptions::zero_copy()
    };
    let report = copy_with(&s.fd, &out, &opts).unwrap_or_else(|e| panic!("{what}: {e}"));
    drop(out);
    if let Some(t) = s.feeder {
        t.join().unwrap();
    }
    let want = s.expect.unwrap();
    assert_eq!(report.bytes, want.len() as u64, "{what}: bytes reported");
    if let Some(got) = collect(c) {
        assert_eq!(sha(&got), sha(&want), "{what}: content");
    }
    report
}

const SINKS: [Dst; 8] = [
    Dst::Ext4,
    Dst::Tmpfs,
    Dst::Pipe,
    Dst::PipeNb,
    Dst::Tcp,
    Dst::TcpNb,
    Dst::UnixStream,
    Dst::DevNull,
];

/// Every sink at every size through the ring: the same bytes, and the report the blocking
/// path gives for the same cell (its system-call count aside: short transfers vary by run).
fn uring_row(src: Src) {
    let have_ring = Ring::new(4).is_ok();
    for dst in SINKS {
        for n in SIZES.into_iter().chain([3 << 20 | 1]) {
            for mode in [FilePages::Share, FilePages::Settle] {
                let before = engine_completions();
                let u = cell(src, dst, n, mode, Backend::Uring);
                let ran = engine_completions() - before;
                let b = cell(src, dst, n, mode, Backend::Blocking);
                let what = format!("{src:?} -> {dst:?}, {n} bytes, {mode:?}");
                let key = |r: CopyReport| (r.bytes, r.strategy, r.fallbacks, r.copied_tail);
                assert_eq!(key(u), key(b), "{what}: uring vs blocking report");
                let spliced = matches!(u.strategy, Strategy::Splice | Strategy::SpliceBroker);
                if have_ring && spliced && n > 0 {
                    assert!(ran > 0, "{what}: the ring ran no operation");
                }
            }
        }
    }
    if !have_ring {
        skip(format!(
            "{src:?} row: no io_uring here, the blocking fallback ran"
        ));
    }
}

#[test]
fn uring_ext4_file_to_every_sink() {
    uring_row(Src::Ext4);
}
#[test]
fn uring_tmpfs_file_to_every_sink() {
    uring_row(Src::Tmpfs);
}
#[test]
fn uring_pipe_to_every_sink() {
    uring_row(Src::Pipe);
}
#[test]
fn uring_nonblocking_pipe_to_every_sink() {
    uring_row(Src::PipeNb);
}
#[test]
fn uring_tcp_to_every_sink() {
    uring_row(Src::Tcp);
}
#[test]
fn uring_nonblocking_tcp_to_every_sink() {
    uring_row(Src::TcpNb);
}
#[test]
fn uring_unix_stream_to_every_sink() {
    uring_row(Src::UnixStream);
}
#[test]
fn uring_dev_zero_to_every_sink() {
    uring_row(Src::DevZero);
}

/// File → a private pipe → the report; and the stdin pipe → a file: what the child run of
/// the fault test copies. Returns the engine's completions on this thread.
fn child_copies(dir: &std::path::Path) -> u64 {
    let opts = CopyOptions {
        file_pages: FilePages::Share,
        backend: Backend::Uring,
        ..CopyOptions::zero_copy()
    };
    let src = File::open(dir.join("src")).unwrap();
    let (w, reader) = drained_pipe(false);
    let r = copy_with(&src, &w, &opts).unwrap();
    assert_eq!(r.strategy, Strategy::SpliceBroker);
    drop(w);
    std::fs::write(dir.join("out-broker"), reader.join().unwrap()).unwrap();
    let out = File::create(dir.join("out-direct")).unwrap();
    let r = copy_with(std::io::stdin(), &out, &opts).unwrap();
    assert_eq!(r.strategy, Strategy::Splice);
    engine_completions()
}

/// `io_uring_setup` fails (strace injects `ENOSYS`): both copies still deliver every byte, by
/// blocking splice. Without the fault, the same run goes through the ring.
#[test]
fn uring_setup_refused_falls_back_without_losing_a_byte() {
    const CHILD: &str = "SPLICEKIT_URING_CHILD";
    if let Some(dir) = std::env::var_os(CHILD) {
        let n = child_copies(dir.as_ref());
        std::fs::write(std::path::Path::new(&dir).join("ops"), n.to_string()).unwrap();
        return;
    }
    let have_strace = Command::new("strace")
        .args(["-f", "-o", "/dev/null", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !have_strace {
        skip("strace is not available or cannot trace here");
        return;
    }
    let content = data((3 << 20) + 4097);
    let exe = std::env::current_exe().unwrap();
    let me = "uring::uring_setup_refused_falls_back_without_losing_a_byte";
    for inject in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("src"), &content).unwrap();
        let mut c = if inject {
            let mut c = Command::new("strace");
            let fault = ["-f", "-o", "/dev/null", "-e"];
            c.args(fault)
                .arg("inject=io_uring_setup:error=ENOSYS")
                .arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        c.args([me, "--exact", "--nocapture", "--test-threads=1"]);
        c.env(CHILD, dir.path()).stdin(Stdio::piped());
        let mut child = c.stdout(Stdio::null()).spawn().unwrap();
        let feed = writer_thread(child.stdin.take().unwrap(), content.clone());
        let status = child.wait().unwrap();
        feed.join().unwrap();
        assert!(status.success(), "inject={inject}: child failed");
        for out in ["out-broker", "out-direct"] {
            let got = std::fs::read(dir.path().join(out)).unwrap();
            assert_eq!(sha(&got), sha(&content), "inject={inject}: {out}");
        }
        let ops: u64 = std::fs::read_to_string(dir.path().join("ops"))
            .unwrap()
            .parse()
            .unwrap();
        if inject {
            assert_eq!(ops, 0, "io_uring_setup failed, yet the ring ran");
        } else if Ring::new(2).is_ok() {
            assert!(ops > 0, "the ring was available, yet nothing ran on it");
        } else {
            skip("io_uring unavailable here: the run without the fault fell back too");
        }
    }
}

fn on(backend: Backend, opts: CopyOptions) -> CopyOptions {
    CopyOptions { backend, ..opts }
}

fn share() -> CopyOptions {
    CopyOptions {
        file_pages: FilePages::Share,
        ..CopyOptions::zero_copy()
    }
}

/// The failure rules through the ring, each against the blocking path: bytes a linked in-hop
/// left in the broker pipe when the out-hop is refused (EINVAL on O_APPEND) are written out
/// and read/write finishes (kernel-facts F15); a sink that fails for real is reported with the
/// same errno, side and count (/dev/full: ENOSPC; a pipe without readers: EPIPE).
#[test]
fn uring_failures_are_the_blocking_paths() {
    let have_ring = ring().is_some();
    for backend in [Backend::Blocking, Backend::Uring] {
        for n in [1, 4097, 65537, 3 << 20] {
            let content = data(n);
            let (a, b) = tcp_pair();
            let feeder = writer_thread(a, content.clone());
            let (out, _p) = append_file(&std::env::temp_dir());
            let opts = CopyOptions {
                strategies: Some(vec![Strategy::SpliceBroker, Strategy::ReadWrite]),
                ..on(backend, share())
            };
            let before = engine_completions();
            let r = copy_with(&b, &out, &opts).unwrap();
            feeder.join().unwrap();
            let what = format!("{backend:?}, {n} bytes");
            assert_eq!(
                (r.bytes, r.strategy, r.fallbacks),
                (n as u64, Strategy::ReadWrite, 1),
                "{what}"
            );
            assert_eq!(sha(&read_file(&out)), sha(&content), "{what}");
            if backend == Backend::Uring && have_ring {
                assert!(engine_completions() > before, "{what}: ring unused");
            }
        }
        let (a, b) = tcp_pair();
        let feeder = writer_thread(a, data(100_000));
        let e = copy_with(&b, open_write("/dev/full"), &on(backend, share())).unwrap_err();
        assert_eq!(e.io_error().raw_os_error(), Some(libc::ENOSPC), "{e}");
        assert_eq!((e.side(), e.bytes_moved()), (splicekit::Side::Output, 0));
        drop(b);
        feeder.join().unwrap();
        let f = ext4_file(&data(100_000));
        let (r, w) = pipe();
        drop(r);
        let e = copy_with(&f, &w, &on(backend, share())).unwrap_err();
        assert!(e.is_broken_pipe(), "{backend:?}: {e}");
        assert_eq!(e.side(), splicekit::Side::Output, "{backend:?}");
    }
}

/// An O_DIRECT source: the ring's splices move whole blocks, the unaligned tail is refused
/// with EINVAL and read/write finishes it, as on the blocking path.
#[test]
fn uring_o_direct_source_is_copied_whole() {
    let dir = tempfile::tempdir().unwrap();
    for n in SIZES.into_iter().chain([(3 << 20) + 7]) {
        let path = dir.path().join("direct");
        std::fs::write(&path, data(n)).unwrap();
        let open = || open_direct(&path);
        if let Err(e) = open() {
            skip(format!(
                "O_DIRECT refused on the temp dir's file system: {e}"
            ));
            return;
        }
        let mut reports = Vec::new();
        for backend in [Backend::Blocking, Backend::Uring] {
            let (r, w) = pipe();
            let reader = reader_thread(File::from(r));
            let rep = copy_with(open().unwrap(), &w, &on(backend, share())).unwrap();
            drop(w);
            assert_eq!(sha(&reader.join().unwrap()), sha(&data(n)), "{backend:?}");
            reports.push((rep.bytes, rep.strategy, rep.fallbacks, rep.copied_tail));
        }
        assert_eq!(reports[0], reports[1], "{n} bytes");
    }
}

/// FanOut with its outputs' tee and splice calls on the ring: 1, 2 and 4 outputs mixing pipes,
/// files (shared copy, and by splice), /dev/null and sockets, from pipe, file and socket
/// inputs, every boundary size and 3 MiB + 1, each output hashed; then short tees into
/// one-page output pipes, one non-blocking (EAGAIN), caught up through the scratch pipe.
#[test]
fn uring_fan_out_gives_every_output_every_byte() {
    let have_ring = ring().is_some();
    let before = engine_completions();
    for n_out in [1, 2, 4] {
        for in_kind in 0..3 {
            for n in SIZES.into_iter().chain([(3 << 20) + 1]) {
                crate::tee::fan_on(n_out, in_kind, &data(n), n_out == 4, Backend::Uring);
            }
        }
    }
    crate::tee::short_tees_caught_up(Backend::Uring);
    if have_ring {
        assert!(
            engine_completions() > before,
            "the ring ran no tee or splice"
        );
    }
}
