//! FACTS.md §3 failure modes that apply to the core engine (F-numbers refer to FACTS.md).

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::time::Duration;

use splicekit::{copy_with, CopyOptions, FdKind, Op, Pipe, PipePool, Side, SocketKind, Strategy};

use crate::util::*;

fn share() -> CopyOptions {
    CopyOptions {
        file_pages: splicekit::FilePages::Share,
        ..CopyOptions::zero_copy()
    }
}

/// F1: with `FilePages::Share` a pipe references the file's pages, so a write to the file
/// after the copy returned shows through; the default copies, so it does not.
#[test]
fn f1_page_references_follow_the_documented_choice() {
    for (opts, want) in [(share(), b"NEW!"), (CopyOptions::default(), b"OLD!")] {
        let f = ext4_file(b"OLD!");
        let p = Pipe::new().unwrap();
        let r = copy_with(&f, p.writer(), &opts).unwrap();
        assert_eq!(r.bytes, 4);
        f.write_all_at(b"NEW!", 0).unwrap();
        let mut got = [0u8; 4];
        splicekit::sys::read(p.reader(), &mut got, None).unwrap();
        assert_eq!(&got, want, "{:?}", opts.file_pages);
    }
}

/// F6: /dev/full refuses splice and sendfile with EINVAL; the real error is ENOSPC from write.
#[test]
fn f6_dev_full_reports_enospc_on_the_output_side() {
    let f = ext4_file(&data(10_000));
    let full = open_write("/dev/full");
    let e = copy_with(&f, &full, &share()).unwrap_err();
    assert_eq!(e.io_error().raw_os_error(), Some(libc::ENOSPC), "{e}");
    assert_eq!(
        (e.op(), e.side(), e.bytes_moved()),
        (Op::Write, Side::Output, 0)
    );
    assert_eq!(
        (e.source_kind(), e.sink_kind()),
        (FdKind::File, FdKind::CharDevice)
    );
    assert!(
        e.to_string()
            .starts_with("write(file -> character device) failed after 0 bytes"),
        "{e}"
    );
    let (src, _t) = fed_pipe(data(5000), false);
    let e = copy_with(&src, &full, &share()).unwrap_err();
    assert_eq!(e.io_error().raw_os_error(), Some(libc::ENOSPC), "{e}");
}

/// F15: a socket source's bytes already moved into the broker pipe when the sink refuses the
/// out-hop (EINVAL on O_APPEND) are drained with write, then read/write finishes.
#[test]
fn f15_bytes_stranded_in_the_broker_pipe_are_delivered() {
    for n in [1, 4097, 65537, 3 << 20] {
        let content = data(n);
        let (a, b) = tcp_pair();
        let feeder = writer_thread(a, content.clone());
        let (out, _p) = append_file(&std::env::temp_dir());
        let opts = CopyOptions {
            strategies: Some(vec![Strategy::SpliceBroker, Strategy::ReadWrite]),
            ..share()
        };
        let r = copy_with(&b, &out, &opts).unwrap();
        feeder.join().unwrap();
        assert_eq!(
            (r.bytes, r.strategy, r.fallbacks),
            (n as u64, Strategy::ReadWrite, 1)
        );
        assert_eq!(sha(&read_file(&out)), sha(&content), "{n} bytes");
    }
    let p = PipePool::global().take(1 << 20).unwrap();
    assert_eq!(p.queued().unwrap(), 0, "a pooled pipe is always empty");
}

/// F15 with a sink that fails for real: TCP → /dev/full gives ENOSPC from the drain's write.
#[test]
fn f15_socket_into_dev_full_is_enospc_not_einval() {
    let (a, b) = tcp_pair();
    let feeder = writer_thread(a, data(100_000));
    let e = copy_with(&b, open_write("/dev/full"), &share()).unwrap_err();
    assert_eq!(e.io_error().raw_os_error(), Some(libc::ENOSPC), "{e}");
    assert_eq!(e.source_kind(), FdKind::Socket(SocketKind::Tcp));
    drop(b);
    feeder.join().unwrap();
}

/// F19: a promised length that the source does not deliver is a clear error.
#[test]
fn f19_a_source_shorter_than_promised_is_reported() {
    let f = ext4_file(&data(100));
    let out = tempfile::tempfile().unwrap();
    let opts = CopyOptions {
        len: Some(200),
        exact: true,
        ..share()
    };
    let e = copy_with(&f, &out, &opts).unwrap_err();
    assert_eq!(e.io_error().kind(), std::io::ErrorKind::UnexpectedEof);
    assert!(
        e.to_string()
            .contains("source shrank: expected 200 bytes, got 100"),
        "{e}"
    );
    assert_eq!((e.bytes_moved(), read_file(&out).len()), (100, 100));
}

/// F19: a file truncated while it is being copied ends the copy at the new end. With the
/// default (`FilePages::Copy`) every delivered byte is a byte the file held when it was read.
/// With `Share`, bytes past the new end that already sat in the pipe may read back changed
/// (the pipe references page-cache folios that the truncate zeroed): the documented hazard.
#[test]
fn f19_a_file_that_shrinks_mid_copy_ends_cleanly() {
    for base in [CopyOptions::default(), share(), CopyOptions::zero_copy()] {
        let content = data(4 << 20);
        let f = ext4_file(&content);
        let victim = f.try_clone().unwrap();
        let (r, w) = Pipe::new().unwrap().into_ends(); // 64 KiB: the copy waits for the reader
        let reader = std::thread::spawn(move || {
            let mut r = File::from(r);
            let mut got = vec![0u8; 65536];
            r.read_exact(&mut got).unwrap();
            victim.set_len(1 << 20).unwrap();
            r.read_to_end(&mut got).unwrap();
            got
        });
        let opts = CopyOptions {
            len: Some(4 << 20),
            exact: true,
            chunk: Some(65536),
            ..base
        };
        let res = copy_with(&f, &w, &opts);
        drop(w);
        let got = reader.join().unwrap();
        let e = res.unwrap_err();
        // Under sharing the file was cut below bytes already shared: that is the error (the
        // reader may have got bytes the file never held); otherwise the promised length failed.
        let shared_cut = e.io_error().to_string() == splicekit::TRUNCATED;
        assert!(
            e.to_string().contains("source shrank")
                || (shared_cut && opts.file_pages != splicekit::FilePages::Copy),
            "{e}"
        );
        assert_eq!(e.bytes_moved(), got.len() as u64);
        assert!(
            got.len() < 2 << 20,
            "stopped near the new end: {}",
            got.len()
        );
        let checked = match opts.file_pages {
            splicekit::FilePages::Copy => got.len(),
            splicekit::FilePages::Share | splicekit::FilePages::Settle => got.len().min(1 << 20),
        };
        let first_diff = got[..checked]
            .iter()
            .zip(&content)
            .position(|(a, b)| a != b);
        assert_eq!(
            first_diff,
            None,
            "{:?}: of {} bytes",
            opts.file_pages,
            got.len()
        );
    }
}

/// A file that grows before the copy reaches its end is copied to its new end (cat semantics).
#[test]
fn a_file_that_grew_after_open_is_copied_to_its_end() {
    let f = ext4_file(&data(5000));
    let mut w = f.try_clone().unwrap();
    use std::io::Seek;
    w.seek(std::io::SeekFrom::End(0)).unwrap();
    w.write_all(b"tail").unwrap();
    w.rewind().unwrap();
    let out = tempfile::tempfile().unwrap();
    assert_eq!(copy_with(&f, &out, &share()).unwrap().bytes, 5004);
}

/// F25: a sink pipe without readers is a typed "reader gone" error, never a loop.
#[test]
fn f25_closed_reader_is_a_typed_broken_pipe() {
    let f = ext4_file(&data(100_000));
    let p = Pipe::new().unwrap();
    let (r, w) = p.into_ends();
    drop(r);
    let e = copy_with(&f, &w, &share()).unwrap_err();
    assert!(e.is_broken_pipe(), "{e}");
    assert_eq!((e.side(), e.sink_kind()), (Side::Output, FdKind::Pipe));
    // Through the broker: TCP → TCP whose receiver is gone.
    let (a, b) = tcp_pair();
    let (c, d) = tcp_pair();
    drop(d);
    let feeder = writer_thread(a, data(8 << 20));
    let e = copy_with(&b, &c, &share()).unwrap_err();
    assert!(
        matches!(
            e.io_error().raw_os_error(),
            Some(libc::EPIPE | libc::ECONNRESET)
        ),
        "{e}"
    );
    assert_eq!(e.side(), Side::Output);
    drop(b);
    feeder.join().unwrap();
}

/// F21/F22: a non-blocking socket source that trickles is waited on with poll, not spun on.
#[test]
fn f21_nonblocking_socket_source_is_polled() {
    let (a, b) = tcp_pair();
    b.set_nonblocking(true).unwrap();
    let feeder = std::thread::spawn(move || {
        let mut a = a;
        for i in 0..5u8 {
            std::thread::sleep(Duration::from_millis(60));
            a.write_all(&[i; 1000]).unwrap();
        }
    });
    let out = tempfile::tempfile().unwrap();
    let before = cpu_time();
    let r = copy_with(&b, &out, &share()).unwrap();
    let spent = cpu_time() - before;
    feeder.join().unwrap();
    assert_eq!(r.bytes, 5000);
    let want: Vec<u8> = (0..5u8).flat_map(|i| [i; 1000]).collect();
    assert_eq!(read_file(&out), want);
    // 300 ms of waiting; a spinning loop would burn most of it.
    assert!(
        spent < Duration::from_millis(150),
        "CPU while waiting: {spent:?}"
    );
}

fn cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// F26: files past 4 GiB — every call is capped at 0x7ffff000 and totals are u64.
#[test]
fn f26_five_gib_sparse_file_through_sendfile_and_copy_file_range() {
    let size = 5u64 << 30;
    let marks = [0u64, (2 << 30) - 3, (4 << 30) + 17, size - 8];
    let src = tempfile::tempfile_in(tmpfs_dir()).unwrap();
    src.set_len(size).unwrap();
    for m in marks {
        src.write_all_at(b"MARK5GiB", m.min(size - 8)).unwrap();
    }
    let null = open_write("/dev/null");
    let r = copy_with(
        &src,
        &null,
        &CopyOptions {
            src_offset: Some(0),
            ..share()
        },
    )
    .unwrap();
    assert_eq!((r.bytes, r.strategy), (size, Strategy::Sendfile));
    assert!(r.syscalls >= 3, "split at MAX_RW_COUNT: {}", r.syscalls);
    let dst = tempfile::tempfile_in(tmpfs_dir()).unwrap();
    let r = copy_with(
        &src,
        &dst,
        &CopyOptions {
            src_offset: Some(0),
            ..share()
        },
    )
    .unwrap();
    assert_eq!((r.bytes, r.strategy), (size, Strategy::CopyFileRange));
    assert_eq!(dst.metadata().unwrap().len(), size);
    let (mut a, mut b) = (vec![0u8; 8 << 20], vec![0u8; 8 << 20]);
    let mut off = 0;
    while off < size {
        let n = (size - off).min(a.len() as u64) as usize;
        src.read_exact_at(&mut a[..n], off).unwrap();
        dst.read_exact_at(&mut b[..n], off).unwrap();
        assert!(a[..n] == b[..n], "differs in the 8 MiB at {off}");
        off += n as u64;
    }
    // A window past 4 GiB through a pipe, by offset, leaves the file position alone.
    let (r, w) = Pipe::with_capacity(1 << 20).unwrap().into_ends();
    let at = (4 << 30) + 1;
    let opts = CopyOptions {
        src_offset: Some(at),
        len: Some(65537),
        ..share()
    };
    let reader = reader_thread(File::from(r));
    assert_eq!(copy_with(&src, &w, &opts).unwrap().bytes, 65537);
    drop(w);
    let mut want = vec![0u8; 65537];
    src.read_exact_at(&mut want, at).unwrap();
    assert_eq!(reader.join().unwrap(), want);
}

/// A full filesystem: ENOSPC on the output side, and every byte reported moved is in the file.
#[test]
fn full_disk_reports_enospc_and_keeps_what_it_reported() {
    let Some(dir) = small_tmpfs() else { return };
    let (src, feeder) = fed_pipe(data(1 << 20), false);
    let path = dir.path().join("out");
    let out = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap();
    let e = copy_with(&src, &out, &share()).unwrap_err();
    assert_eq!(e.io_error().raw_os_error(), Some(libc::ENOSPC), "{e}");
    assert_eq!(e.side(), Side::Output);
    assert_eq!(read_file(&out).len() as u64, e.bytes_moved());
    assert_eq!(
        sha(&read_file(&out)),
        sha(&data(1 << 20)[..e.bytes_moved() as usize])
    );
    drop(src);
    let _ = feeder.join();
    drop(out);
    let at = dir.path().to_string_lossy().into_owned();
    drop(dir);
    let mounted = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    assert!(!mounted.contains(&at), "the tmpfs at {at} is still mounted");
}

/// A mounted 256 KiB tmpfs, unmounted when dropped — also when the test fails part-way. Made
/// before the files in it, it is dropped after them, so the unmount finds nothing open.
struct SmallTmpfs(tempfile::TempDir);

impl SmallTmpfs {
    fn path(&self) -> &std::path::Path {
        self.0.path()
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let umount = |args: &[&str]| {
            std::process::Command::new("umount")
                .args(args)
                .arg(self.0.path())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !umount(&[]) {
            umount(&["-l"]); // still busy: detach it now, the kernel frees it when unused
        }
    }
}

fn small_tmpfs() -> Option<SmallTmpfs> {
    let dir = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "splicekit-full"])
        .arg(dir.path())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip("cannot mount a small tmpfs here (needs root)");
        return None;
    }
    Some(SmallTmpfs(dir))
}

/// Bad input: a descriptor of the wrong kind or direction is a clear error naming the
/// operation and both kinds, after 0 bytes, never a panic or a loop.
#[test]
fn wrong_descriptors_are_named_in_the_error() {
    let f = ext4_file(b"data");
    let ro = File::open(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&f)
    ))
    .unwrap();
    let wo = open_write("/dev/null");
    let (r, w) = Pipe::new().unwrap().into_ends();
    let dir = File::open("/tmp").unwrap();
    let (f2, f3) = (ext4_file(b"data"), ext4_file(b"data"));
    let cases: [(&dyn std::os::fd::AsFd, &dyn std::os::fd::AsFd, &str); 4] = [
        (
            &wo,
            &f,
            "read(character device -> file) failed after 0 bytes: Bad file descriptor",
        ),
        (
            &f2,
            &ro,
            "write(file -> file) failed after 0 bytes: Bad file descriptor",
        ),
        (
            &dir,
            &w,
            "read(directory -> pipe) failed after 0 bytes: Is a directory",
        ),
        (
            &f3,
            &r,
            "write(file -> pipe) failed after 0 bytes: Bad file descriptor",
        ),
    ];
    for (src, dst, want) in cases {
        let e = copy_with(src.as_fd(), dst.as_fd(), &share()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{want} (os error {})", e.io_error().raw_os_error().unwrap())
        );
        assert_eq!(e.bytes_moved(), 0);
    }
}

/// A connection reset before the first byte is reported, not mistaken for "this call cannot
/// serve the pair": the kernel reports ECONNRESET once, so a fallback would read a clean EOF.
#[test]
fn a_reset_connection_is_reported_not_swallowed_by_a_fallback() {
    for sink in ["file", "tcp"] {
        let (a, b) = tcp_pair();
        let linger = Some(Duration::ZERO);
        rustix::net::sockopt::set_socket_linger(&a, linger).unwrap();
        b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // Unread data at the peer plus SO_LINGER 0 makes close() send a RST.
        let (_c, d) = tcp_pair();
        let mut a2 = a.try_clone().unwrap();
        std::io::Write::write_all(&mut a2, b"x").unwrap();
        drop(a2);
        let mut peer_b = b.try_clone().unwrap();
        std::io::Write::write_all(&mut peer_b, b"unread").unwrap();
        drop(peer_b);
        std::thread::sleep(Duration::from_millis(50));
        let mut one = [0u8; 1];
        assert_eq!(std::io::Read::read(&mut &b, &mut one).unwrap(), 1);
        drop(a); // RST: `a` has "unread" queued
        std::thread::sleep(Duration::from_millis(50));
        let out = tempfile::tempfile().unwrap();
        let res = match sink {
            "file" => copy_with(&b, &out, &share()),
            _ => copy_with(&b, &d, &share()),
        };
        let e = res.expect_err(sink);
        assert_eq!(
            e.io_error().raw_os_error(),
            Some(libc::ECONNRESET),
            "{sink}: {e}"
        );
        assert_eq!(
            (e.side(), e.source_kind()),
            (Side::Input, FdKind::Socket(SocketKind::Tcp))
        );
    }
}

/// An O_DIRECT source: the zero-copy calls move whole blocks and refuse the file's unaligned
/// tail with EINVAL (FACTS B35–B37); the engine finishes it by read/write in aligned memory.
/// Every boundary size into a pipe, a file and a TCP socket, in every FilePages mode.
#[test]
fn an_o_direct_source_is_copied_whole_into_every_sink() {
    let dir = tempfile::tempdir().unwrap();
    let sizes = [
        0usize,
        1,
        4095,
        4096,
        4097,
        65535,
        65536,
        65537,
        (1 << 20) + 1,
        (3 << 20) + 7,
    ];
    for n in sizes {
        let path = dir.path().join("direct");
        std::fs::write(&path, data(n)).unwrap();
        let open = || open_direct(&path);
        if let Err(e) = open() {
            skip(format!(
                "O_DIRECT refused on the temp dir's file system: {e}"
            ));
            return;
        }
        for mode in [
            CopyOptions::default(),
            CopyOptions::zero_copy(),
            CopyOptions {
                file_pages: splicekit::FilePages::Share,
                ..CopyOptions::zero_copy()
            },
        ] {
            let what = format!("{n} bytes, {:?}", mode.file_pages);
            let (r, w) = Pipe::new().unwrap().into_ends();
            let reader = reader_thread(File::from(r));
            copy_with(open().unwrap(), &w, &mode).unwrap_or_else(|e| panic!("pipe, {what}: {e}"));
            drop(w);
            assert_eq!(sha(&reader.join().unwrap()), sha(&data(n)), "pipe, {what}");
            let out = file_in(dir.path(), b"");
            copy_with(open().unwrap(), &out, &mode).unwrap_or_else(|e| panic!("file, {what}: {e}"));
            assert_eq!(sha(&read_file(&out)), sha(&data(n)), "file, {what}");
            let (a, b) = tcp_pair();
            let reader = reader_thread(b);
            copy_with(open().unwrap(), &a, &mode).unwrap_or_else(|e| panic!("tcp, {what}: {e}"));
            drop(a);
            assert_eq!(sha(&reader.join().unwrap()), sha(&data(n)), "tcp, {what}");
        }
    }
}
