//! [`FilePages::Settle`](super::FilePages::Settle): zero-copy for the body of a file, a copy
//! for its tail, so that a pipe sink holds no page of the file once the copy returns — and a
//! file that shrank under the shared part is an error, never a success.
//!
//! A pipe holds at most its capacity in bytes, and those are always the last ones written. So
//! when the last `capacity` bytes a copy writes are copies (our own pages), every shared page
//! has been consumed by the reader by the time the copy returns. The body is moved by the
//! plan's zero-copy strategies, the tail by read/write; a tail that a caller promises to cover
//! with later writes ([`CopyOptions::followed_by`](super::CopyOptions::followed_by)) is
//! shortened by that much.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags, Timespec};

use crate::error::Op;
use crate::kind::{FdInfo, FdKind};
use crate::sys;

/// Whether a zero-copy strategy from `si` into `di` makes the sink reference the source's
/// page cache: a regular file (or block device) into a pipe or a socket.
pub(super) fn references_pages(si: &FdInfo, di: &FdInfo) -> bool {
    matches!(si.kind, FdKind::File | FdKind::BlockDevice)
        && (di.kind == FdKind::Pipe || di.kind.is_socket())
}

/// The read position of `src`: the explicit offset, or the file position.
pub(super) fn position(src: BorrowedFd<'_>, offset: Option<u64>) -> io::Result<u64> {
    match offset {
        Some(o) => Ok(o),
        None => rustix::fs::seek(src, rustix::fs::SeekFrom::Current(0)).map_err(io::Error::from),
    }
}

/// How much of a settled copy may be shared: the bytes the copy will take (by the size the
/// file has now, and `len`), less the tail that must be copied — the sink pipe's capacity,
/// less what the caller will write after this copy.
pub(super) fn body_len(size: u64, start: u64, len: Option<u64>, cap: u64, followed: u64) -> u64 {
    let left = size.saturating_sub(start);
    let total = len.map_or(left, |l| l.min(left));
    total.saturating_sub(cap.saturating_sub(followed))
}

/// The sink pipe's capacity; a pipe whose size cannot be read is taken as the largest one
/// this user can make, so the tail is never too short.
pub(super) fn sink_capacity(dst: BorrowedFd<'_>) -> u64 {
    match sys::pipe_capacity(dst) {
        Ok(c) => c as u64,
        Err(_) => std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1 << 20),
    }
}

/// The message of the error for a source that shrank below what was shared from it.
pub const TRUNCATED: &str = "file truncated while being read";

/// Checks that `file` still holds its first `end` bytes. After pages up to `end` were spliced
/// or sent from it, a file cut below that gave the reader bytes it never held (zeros up to the
/// cut page's end, stale data after), so a copy that must not invent bytes calls this once the
/// reader can no longer be reached by those pages, or at its end.
///
/// ```
/// use std::io::Write;
/// let mut f = tempfile::tempfile()?;
/// f.write_all(b"0123456789")?;
/// assert!(splicekit::check_holds(&f, 10).is_ok());
/// f.set_len(4)?;
/// let e = splicekit::check_holds(&f, 10).unwrap_err();
/// assert_eq!(e.to_string(), splicekit::TRUNCATED);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
/// [`TRUNCATED`] (kind `UnexpectedEof`) when the file is shorter than `end`; the `fstat(2)`
/// error when its size cannot be read.
pub fn check_holds<F: AsFd>(file: F, end: u64) -> io::Result<()> {
    if end == 0 {
        return Ok(());
    }
    let st = rustix::fs::fstat(file.as_fd())?;
    if (st.st_size.max(0) as u64) < end {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, TRUNCATED));
    }
    Ok(())
}

/// The operation to name for a [`check_holds`] failure: the check itself, or the `fstat`.
pub(crate) fn check_op(e: &io::Error) -> Op {
    if e.raw_os_error().is_some() {
        Op::Stat
    } else {
        Op::Check
    }
}

/// Waits until the pipe `pipe` holds at most `copied` bytes: the bytes a writer last put into
/// it by copying ([`CopyReport::copied_tail`](super::CopyReport::copied_tail), plus what it
/// wrote itself after). Once it returns, no byte the writer shared from a file is still
/// unread, so the writer may promise (exit 0) that the reader gets what the files held.
///
/// A writer that kept [`FilePages::Settle`](super::FilePages::Settle)'s tails returns at once;
/// this is the safety net for a writer whose plan for the end did not hold (a later input
/// turned out shorter than announced in [`CopyOptions::followed_by`](super::CopyOptions::followed_by)).
/// It returns at once, too, when the pipe has no reader left.
///
/// # Errors
/// The `ioctl(FIONREAD)` or `poll(2)` error on `pipe` (`EBADF`, `ENOTTY` for a non-pipe).
pub fn settle<P: AsFd>(pipe: P, copied: u64) -> io::Result<()> {
    let fd = pipe.as_fd();
    let mut nap = Duration::from_micros(200);
    loop {
        if sys::readable_bytes(fd)? <= copied {
            return Ok(());
        }
        let mut pfd = [PollFd::new(&fd, PollFlags::OUT)];
        poll(&mut pfd, Some(&Timespec::default())).map_err(io::Error::from)?;
        if pfd[0].revents().contains(PollFlags::ERR) {
            return Ok(()); // no reader left: nobody will see those bytes
        }
        // A pipe's writer gets no wake-up as its content shrinks below full: look again soon.
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::body_len;

    #[test]
    fn the_tail_is_the_pipe_capacity_less_what_follows() {
        let m = 1 << 20;
        assert_eq!(body_len(10 * m, 0, None, m, 0), 9 * m);
        assert_eq!(body_len(10 * m, 4 * m, None, m, 0), 5 * m);
        assert_eq!(body_len(10 * m, 0, Some(3 * m), m, 0), 2 * m);
        assert_eq!(body_len(m / 2, 0, None, m, 0), 0);
        assert_eq!(body_len(10 * m, 0, None, m, m / 4), 9 * m + m / 4);
        assert_eq!(body_len(10 * m, 0, None, m, 5 * m), 10 * m);
        assert_eq!(body_len(10, 20, None, m, 0), 0);
    }
}
