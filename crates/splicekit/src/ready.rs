//! Waiting for a descriptor to become ready after `EAGAIN`, for the engine and for callers
//! driving non-blocking descriptors themselves.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use rustix::event::{PollFd, PollFlags, Timespec};

/// What to wait for.
///
/// ```
/// use splicekit::{is_ready, wait_ready, Pipe, Ready};
/// let p = Pipe::new()?;
/// assert!(is_ready(p.writer(), Ready::Write));
/// assert!(!is_ready(p.reader(), Ready::Read));
/// splicekit::sys::write(p.writer(), b"!", None)?;
/// wait_ready(p.reader(), Ready::Read)?; // returns at once: a byte is there
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// Bytes to read, end of input, or an error.
    Read,
    /// Room to write, a gone reader, or an error.
    Write,
}

impl Ready {
    fn flags(self) -> PollFlags {
        match self {
            Ready::Read => PollFlags::IN,
            Ready::Write => PollFlags::OUT,
        }
    }
}

/// Blocks in `poll(2)` until `fd` is ready as asked (hang-ups and errors count as ready, so
/// the next call reports them). `EINTR` is retried.
///
/// # Errors
/// `poll(2)`'s error other than `EINTR`: `ENOMEM`, or `EINVAL` in theory. A closed or
/// invalid descriptor is not an error here: `poll` reports it as ready (`POLLNVAL`), and the
/// next call on it fails with `EBADF`.
pub fn wait_ready<F: AsFd>(fd: F, ready: Ready) -> io::Result<()> {
    poll(fd.as_fd(), ready, None).map(|_| ())
}

/// Whether `fd` is ready as asked right now (a `poll(2)` with a zero timeout).
pub fn is_ready<F: AsFd>(fd: F, ready: Ready) -> bool {
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    poll(fd.as_fd(), ready, Some(&zero)).unwrap_or(false)
}

fn poll(fd: BorrowedFd<'_>, ready: Ready, timeout: Option<&Timespec>) -> io::Result<bool> {
    let mut fds = [PollFd::from_borrowed_fd(fd, ready.flags())];
    loop {
        match rustix::event::poll(&mut fds, timeout) {
            Ok(n) => return Ok(n > 0),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
