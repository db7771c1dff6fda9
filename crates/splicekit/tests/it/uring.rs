//! `splicekit::uring` (feature `io-uring`): the ring's own calls.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;

use splicekit::uring::{Ring, SpliceOp};
use splicekit::SpliceFlags;

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
