//! The safe vmsplice writer, page buffers and the read direction: content by hash for every
//! mode and page size, the memory-reuse hazard (FACTS F2, V14–V18) shown real and shown
//! impossible through the safe API, and the typed errors.

use std::fs::File;
use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::thread::JoinHandle;

use splicekit::sys::{self, Frozen, PipeFlags, SpliceFlags, IOV_MAX};
use splicekit::{vmsplice, FdKind, Op, PageBuf, PageSize, Release, TrySendError, VmspliceWriter};

use crate::util::{data, sha, skip, SIZES};

/// How the far end consumes the pipe.
#[derive(Debug, Clone, Copy)]
enum Reader {
    /// `read()` into its own memory.
    Copy,
    /// `splice()` into a second pipe, read later: the references travel on (FACTS V18).
    Onward,
}

fn spawn_reader(r: OwnedFd, how: Reader) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || match how {
        Reader::Copy => {
            let mut v = Vec::new();
            File::from(r).read_to_end(&mut v).unwrap();
            v
        }
        Reader::Onward => {
            let (r2, w2) = sys::pipe(PipeFlags::CLOEXEC).unwrap();
            let last = std::thread::spawn(move || {
                let mut v = Vec::new();
                File::from(r2).read_to_end(&mut v).unwrap();
                v
            });
            while sys::splice(&r, None, &w2, None, 1 << 20, SpliceFlags::empty()).unwrap() > 0 {}
            drop(w2);
            last.join().unwrap()
        }
    })
}

fn pipe() -> (OwnedFd, OwnedFd) {
    sys::pipe(PipeFlags::CLOEXEC).unwrap()
}

const BIG: usize = 3 * (1 << 20) + 1;

/// Sends `bytes` through a writer in `release` mode, one page buffer after another.
fn send_pages(bytes: &[u8], release: Release, size: PageSize, how: Reader) -> Vec<u8> {
    let (r, w) = pipe();
    let got = spawn_reader(r, how);
    let mut wr = VmspliceWriter::new(w).unwrap().release(release);
    let mut rest = bytes;
    while !rest.is_empty() {
        let mut page = wr.page(size).unwrap();
        assert_eq!(page.as_ptr() as usize % size.bytes(), 0);
        let n = rest.len().min(page.len());
        page.truncate(n);
        page.copy_from_slice(&rest[..n]);
        wr.send(page).unwrap();
        rest = &rest[n..];
    }
    assert_eq!(wr.bytes_sent(), bytes.len() as u64);
    drop(wr);
    got.join().unwrap()
}

#[test]
fn every_mode_and_page_size_delivers_the_bytes() {
    for size in [PageSize::Base, PageSize::Huge] {
        for release in [Release::Gift, Release::Recycle] {
            for how in [Reader::Copy, Reader::Onward] {
                for n in SIZES.into_iter().chain([BIG]) {
                    let want = data(n);
                    let got = send_pages(&want, release, size, how);
                    assert_eq!(sha(&got), sha(&want), "{size:?} {release:?} {how:?} {n}");
                }
            }
        }
    }
}

#[test]
fn many_small_buffers_go_vectored_past_iov_max() {
    // 3 MiB in 1000-byte buffers: more than IOV_MAX segments, sent in batches.
    let want = data(BIG);
    let pages: Vec<PageBuf> = want
        .chunks(1000)
        .map(|c| {
            let mut p = PageBuf::new(c.len(), PageSize::Base).unwrap();
            p.truncate(c.len());
            p.copy_from_slice(c);
            p
        })
        .collect();
    assert!(pages.len() > IOV_MAX);
    let (r, w) = pipe();
    let got = spawn_reader(r, Reader::Onward);
    let mut wr = VmspliceWriter::new(w).unwrap();
    wr.send_all(pages).unwrap();
    drop(wr);
    assert_eq!(sha(&got.join().unwrap()), sha(&want));
}

#[test]
fn frozen_pages_repeat_and_outlive_the_writer() {
    for size in [PageSize::Base, PageSize::Huge] {
        for n in SIZES.into_iter().chain([BIG]) {
            let chunk = data(n);
            let mut b = PageBuf::new(n, size).unwrap();
            b.truncate(n);
            b.copy_from_slice(&chunk);
            let pages = b.freeze();
            let (r, w) = pipe();
            let _ = sys::set_pipe_capacity(&w, 1 << 20);
            // Up to 64 KiB the pipe holds all three copies: the reader starts only after the
            // writer and the pages are gone (unmapped; the pipe keeps them, FACTS V17).
            let (go, wait) = std::sync::mpsc::channel::<()>();
            let late = n <= 65537;
            let got = std::thread::spawn(move || {
                if late {
                    wait.recv().unwrap();
                }
                spawn_reader(r, Reader::Copy).join().unwrap()
            });
            if !late {
                go.send(()).unwrap();
            }
            let mut wr = VmspliceWriter::new(w).unwrap();
            for _ in 0..3 {
                wr.send_frozen(&pages, 0..n).unwrap();
            }
            drop((wr, pages));
            if late {
                go.send(()).unwrap();
            }
            let want = chunk.repeat(3);
            assert_eq!(sha(&got.join().unwrap()), sha(&want), "{size:?} {n}");
        }
    }
}

#[test]
fn the_same_frozen_pages_sent_again_and_again_read_back_in_order() {
    let line = b"the same pages, again\n";
    let mut b = PageBuf::new(64 << 10, PageSize::Huge).unwrap();
    for (d, s) in b.iter_mut().zip(line.iter().cycle()) {
        *d = *s;
    }
    let pages = b.freeze();
    let (r, w) = pipe();
    let got = spawn_reader(r, Reader::Onward);
    let mut wr = VmspliceWriter::new(w).unwrap();
    // Windows that start mid-line and mid-page, 300 times over.
    let mut want = Vec::new();
    for i in 0..300usize {
        let start = (i * 7) % line.len();
        let end = start + 4097 + i * 13;
        wr.send_frozen(&pages, start..end).unwrap();
        want.extend_from_slice(&pages[start..end]);
    }
    let err = wr.send_frozen(&pages, 10..(pages.len() + 1)).unwrap_err();
    assert_eq!(err.io_error().kind(), std::io::ErrorKind::InvalidInput);
    drop(wr);
    assert_eq!(sha(&got.join().unwrap()), sha(&want));
}

#[test]
fn io_write_copies_plain_slices() {
    for size in [PageSize::Base, PageSize::Huge] {
        for n in SIZES.into_iter().chain([BIG]) {
            let want = data(n);
            let (r, w) = pipe();
            let got = spawn_reader(r, Reader::Onward);
            let mut wr = VmspliceWriter::new(w).unwrap().staging_pages(size);
            for c in want.chunks(777) {
                wr.write_all(c).unwrap();
            }
            wr.flush().unwrap();
            assert_eq!(wr.pending(), 0);
            assert_eq!(wr.bytes_sent(), n as u64);
            drop(wr);
            assert_eq!(sha(&got.join().unwrap()), sha(&want), "{size:?} {n}");
        }
    }
}

/// Writes 32 chunks of 16 KiB, chunk `i` filled with byte `i`, through the safe writer while
/// the reader splices everything onward into a second pipe and reads it only at the end:
/// recycled pages are refilled many times while the pipe still references earlier ones.
fn hazard_run(release: Release) -> Vec<u8> {
    let (r, w) = pipe();
    let (r2, w2) = pipe();
    sys::set_pipe_capacity(&w2, 1 << 20).unwrap();
    let mover = std::thread::spawn(move || {
        while sys::splice(&r, None, &w2, None, 1 << 20, SpliceFlags::empty()).unwrap() > 0 {}
    });
    let mut wr = VmspliceWriter::new(w).unwrap().release(release);
    for i in 0..32u8 {
        let mut page = wr.page(PageSize::Base).unwrap();
        page.truncate(16 << 10);
        page.fill(i);
        wr.send(page).unwrap();
    }
    drop(wr);
    mover.join().unwrap();
    let mut got = Vec::new();
    File::from(r2).read_to_end(&mut got).unwrap();
    got
}

/// Whether chunk `i` of `got` holds only byte `i`, for 32 chunks of 16 KiB. The control run
/// with a reused buffer and the raw call, which this check catches, is in the crate's `sys`
/// tests (`reuse_behind_the_pipe_changes_what_the_reader_sees`).
fn check_chunks(got: &[u8]) -> Result<(), String> {
    if got.len() != 32 * (16 << 10) {
        return Err(format!("{} bytes", got.len()));
    }
    for (i, c) in got.chunks(16 << 10).enumerate() {
        if let Some(b) = c.iter().find(|&&b| b != i as u8) {
            return Err(format!("chunk {i} holds byte {b}"));
        }
    }
    Ok(())
}

#[test]
fn the_safe_writer_never_lets_the_reader_see_a_modified_page() {
    for release in [Release::Gift, Release::Recycle] {
        let got = hazard_run(release);
        assert_eq!(check_chunks(&got), Ok(()), "{release:?}");
    }
}

#[test]
fn the_writer_refuses_what_is_not_a_pipe_write_end() {
    let (r, w) = pipe();
    let (a, _b) = crate::util::unix_stream_pair();
    let file = tempfile::tempfile().unwrap();
    let null = crate::util::open_write("/dev/null");
    let cases: [(&dyn AsFd, FdKind, &str); 4] = [
        (&file, FdKind::File, "vmsplice(memory -> file)"),
        (&r, FdKind::Pipe, "vmsplice(memory -> pipe)"),
        (
            &a,
            FdKind::Socket(splicekit::SocketKind::UnixStream),
            "vmsplice(memory -> unix stream socket)",
        ),
        (
            &null,
            FdKind::CharDevice,
            "vmsplice(memory -> character device)",
        ),
    ];
    for (fd, kind, text) in cases {
        let e = VmspliceWriter::new(fd.as_fd()).err().expect("refused");
        assert_eq!(
            (e.op(), e.sink_kind(), e.source_kind()),
            (Op::Vmsplice, kind, FdKind::Memory)
        );
        assert_eq!(e.io_error().raw_os_error(), Some(libc::EBADF));
        assert_eq!(e.bytes_moved(), 0);
        assert!(e.to_string().starts_with(text), "{e}");
    }
    assert!(VmspliceWriter::new(&w).is_ok());
}

#[test]
fn a_closed_reader_is_a_broken_pipe_with_the_bytes_counted() {
    sys::ignore_sigpipe().unwrap();
    let (r, w) = pipe();
    let reader = std::thread::spawn(move || {
        let mut f = File::from(r);
        let mut buf = vec![0u8; 65536];
        f.read_exact(&mut buf).unwrap();
        buf
    });
    let mut wr = VmspliceWriter::new(w).unwrap();
    let err = loop {
        let mut page = wr.page(PageSize::Base).unwrap();
        page.fill(b'x');
        if let Err(e) = wr.send(page) {
            break e;
        }
    };
    let first = reader.join().unwrap();
    assert!(first.iter().all(|&b| b == b'x'));
    assert!(err.is_broken_pipe(), "{err}");
    assert_eq!(err.bytes_moved(), wr.bytes_sent());
    assert!(err.bytes_moved() >= 65536);
    assert!(
        err.to_string()
            .starts_with("vmsplice(memory -> pipe) failed after"),
        "{err}"
    );
}

#[test]
fn nonblocking_sends_give_full_pipes_back_as_would_block() {
    let (r, w) = pipe(); // 64 KiB
    let mut wr = VmspliceWriter::new(w).unwrap().release(Release::Recycle);
    let mut want = Vec::new();
    // Fill the pipe: 16 KiB buffers until one does not fit at all.
    let refused = loop {
        let mut page = wr.page(PageSize::Base).unwrap();
        page.truncate(16 << 10);
        let tag = want.len() as u8;
        page.fill(tag);
        match wr.try_send(page) {
            Ok(()) => want.extend(std::iter::repeat_n(tag, 16 << 10)),
            Err(TrySendError::WouldBlock(p)) => break p,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(want.len(), 64 << 10);
    // The buffer comes back whole and untouched.
    assert_eq!(refused.len(), 16 << 10);
    let tag = refused[0];
    assert!(refused.iter().all(|&b| b == tag));
    let io: std::io::Error =
        TrySendError::WouldBlock(PageBuf::new(1, PageSize::Base).unwrap()).into();
    assert_eq!(io.kind(), std::io::ErrorKind::WouldBlock);
    // Free 8 KiB: a 16 KiB buffer goes in part; the rest stays pending, and the next buffer
    // is refused until the pending bytes are gone.
    let mut reader = File::from(r);
    let mut head = vec![0u8; 8 << 10];
    reader.read_exact(&mut head).unwrap();
    let mut got = head;
    wr.try_send(refused).unwrap();
    want.extend(std::iter::repeat_n(tag, 16 << 10));
    assert_eq!(wr.pending(), 8 << 10);
    let extra = wr.page(PageSize::Base).unwrap();
    assert!(matches!(
        wr.try_send(extra),
        Err(TrySendError::WouldBlock(_))
    ));
    let e = wr.try_flush().unwrap_err();
    assert_eq!(e.io_error().kind(), std::io::ErrorKind::WouldBlock);
    // A reader drains the rest; the blocking flush completes; every byte is in order.
    let rest = std::thread::spawn(move || {
        let mut v = Vec::new();
        reader.read_to_end(&mut v).unwrap();
        v
    });
    wr.flush().unwrap();
    assert_eq!(wr.pending(), 0);
    drop(wr);
    got.extend(rest.join().unwrap());
    assert_eq!(sha(&got), sha(&want));
}

#[test]
fn sys_vmsplice_frozen_keeps_the_kernels_typed_errors() {
    let (r, w) = pipe();
    let pages = PageBuf::new(8192, PageSize::Base).unwrap().freeze();
    // FACTS V3: more than IOV_MAX segments is EINVAL (rustix would silently truncate).
    let segs: Vec<Frozen<'_>> = (0..=IOV_MAX)
        .map(|i| pages.slice(i % 8..i % 8 + 1).unwrap())
        .collect();
    let e = sys::vmsplice_frozen(&w, &segs, SpliceFlags::empty()).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    // Exactly IOV_MAX is accepted; each segment takes one of the 16 slots of a 64 KiB pipe.
    let n = sys::vmsplice_frozen(&w, &segs[..IOV_MAX], SpliceFlags::NONBLOCK).unwrap();
    assert_eq!(n, 16);
    // FACTS V1/V2/V6: the read end, a regular file and unknown flags.
    let one = [pages.all()];
    let e = sys::vmsplice_frozen(&r, &one, SpliceFlags::empty()).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EBADF));
    let f = tempfile::tempfile().unwrap();
    let e = sys::vmsplice_frozen(&f, &one, SpliceFlags::empty()).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EBADF));
    let e = sys::vmsplice_frozen(&w, &one, SpliceFlags::from_bits_retain(0x40)).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    // FACTS V7/V8: GIFT is accepted here for aligned and unaligned ranges alike (linux-next
    // answers EOPNOTSUPP; the writer then drops the flag).
    let mut sink = vec![0u8; 1 << 16];
    let mut rf = File::from(r);
    rf.read_exact(&mut sink[..16]).unwrap();
    assert_eq!(
        sys::vmsplice_frozen(&w, &[pages.slice(0..4096).unwrap()], SpliceFlags::GIFT).unwrap(),
        4096
    );
    assert_eq!(
        sys::vmsplice_frozen(&w, &[pages.slice(3..103).unwrap()], SpliceFlags::GIFT).unwrap(),
        100
    );
    // FACTS V4/V13: no segments, or an empty one, queue nothing.
    assert_eq!(
        sys::vmsplice_frozen(&w, &[], SpliceFlags::empty()).unwrap(),
        0
    );
    assert_eq!(
        sys::vmsplice_frozen(&w, &[pages.slice(5..5).unwrap()], SpliceFlags::empty()).unwrap(),
        0
    );
    // FACTS V10: a full pipe with NONBLOCK is EAGAIN.
    let big = PageBuf::new(1 << 20, PageSize::Base).unwrap().freeze();
    let e = loop {
        match sys::vmsplice_frozen(&w, &[big.all()], SpliceFlags::NONBLOCK) {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert_eq!(e.raw_os_error(), Some(libc::EAGAIN));
    assert!(pages.slice(0..8193).is_none());
}

#[test]
fn huge_page_buffers_are_aligned_and_eligible_for_transparent_huge_pages() {
    let mut b = PageBuf::new(3 << 20, PageSize::Huge).unwrap();
    assert_eq!(
        (b.capacity(), b.as_ptr() as usize % (2 << 20)),
        (4 << 20, 0)
    );
    b.fill(1);
    let mode =
        std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
    if mode.contains("[never]") || mode.is_empty() {
        skip(format!("transparent huge pages are off ({})", mode.trim()));
        return;
    }
    // The mapping's entry in smaps says whether THP may back it (MADV_HUGEPAGE took).
    let start = format!("{:x}-", b.as_ptr() as usize);
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let entry = smaps.split_once(&start).expect("the mapping is listed").1;
    let eligible = entry
        .lines()
        .find(|l| l.starts_with("THPeligible:"))
        .unwrap();
    assert!(eligible.ends_with('1'), "{eligible}");
    let flags = entry.lines().find(|l| l.starts_with("VmFlags:")).unwrap();
    assert!(
        flags.contains(" hg") && flags.contains(" dc"),
        "MADV_HUGEPAGE and MADV_DONTFORK: {flags}"
    );
}

#[test]
fn read_full_fills_user_memory_from_a_pipe() {
    for n in SIZES.into_iter().chain([BIG]) {
        let want = data(n);
        let (r, w) = pipe();
        let feed = {
            let want = want.clone();
            std::thread::spawn(move || File::from(w).write_all(&want).unwrap())
        };
        let mut buf = vec![0u8; n + 10];
        let got = vmsplice::read_full(&r, &mut buf).unwrap();
        feed.join().unwrap();
        assert_eq!(got, n, "stops short at end of input");
        assert_eq!(sha(&buf[..n]), sha(&want), "{n}");
    }
}

#[test]
fn the_read_direction_keeps_the_kernels_typed_errors() {
    let (r, w) = pipe();
    sys::write(&w, b"0123456789", None).unwrap();
    // Several slices fill in order; the pipe's bytes are consumed.
    let (mut a, mut b) = ([0u8; 3], [0u8; 4]);
    let n = sys::vmsplice_read(
        &r,
        &mut [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)],
        SpliceFlags::empty(),
    )
    .unwrap();
    assert_eq!((n, &a, &b), (7, b"012", b"3456"));
    let mut c = [0u8; 8];
    assert_eq!(
        sys::vmsplice_read(&r, &mut [IoSliceMut::new(&mut c)], SpliceFlags::empty()).unwrap(),
        3
    );
    // Empty with NONBLOCK: EAGAIN; more than IOV_MAX slices: EINVAL.
    let e =
        sys::vmsplice_read(&r, &mut [IoSliceMut::new(&mut c)], SpliceFlags::NONBLOCK).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EAGAIN));
    let mut many: Vec<[u8; 1]> = vec![[0]; IOV_MAX + 1];
    let mut iov: Vec<IoSliceMut<'_>> = many.iter_mut().map(|x| IoSliceMut::new(x)).collect();
    let e = sys::vmsplice_read(&r, &mut iov, SpliceFlags::empty()).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    // A write end, and a FIFO opened read-write, would take the *write* direction: refused.
    let e = vmsplice::read_full(&w, &mut c).unwrap_err();
    assert_eq!(
        (e.op(), e.source_kind(), e.io_error().raw_os_error()),
        (Op::Vmsplice, FdKind::Pipe, Some(libc::EBADF))
    );
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    let rw = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();
    let e =
        sys::vmsplice_read(&rw, &mut [IoSliceMut::new(&mut c)], SpliceFlags::NONBLOCK).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EBADF));
    // A regular file is not a pipe.
    let f = tempfile::tempfile().unwrap();
    let e = vmsplice::read_full(&f, &mut c).unwrap_err();
    assert_eq!(
        (e.source_kind(), e.io_error().raw_os_error()),
        (FdKind::File, Some(libc::EBADF))
    );
    // Writers gone: end of input.
    drop(w);
    assert_eq!(vmsplice::read_full(&r, &mut c).unwrap(), 0);
}
