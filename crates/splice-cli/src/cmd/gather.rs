//! `cat`'s small regular files, gathered: each is read whole into one buffer (one `read`; a
//! read shorter than asked is a regular file's end), and the buffer goes out in one `write`
//! per 128 KiB, so a run over many small files costs about one `open`, `fstat`, `read` and
//! `close` per file. Regular files never block, so gathering delays no output behind a pause;
//! the buffer is written before any other input, before any message and at the end, so the
//! order of bytes and messages is GNU cat's.
//!
//! The files read whole stay open until the buffer is written (at most [`HOLD`] of them;
//! before any input that is not gathered, every one is closed): their
//! descriptors are consecutive numbers, closed by one `close_range` per batch
//! ([`splicekit::sys::close_all`]) where one `close` per file would cost a system call each.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::io::Errno;
use splicekit::{sys, FdInfo, FdKind};

/// Files up to this size are gathered; larger ones go to the copy engine.
pub const SMALL: u64 = 64 << 10;
/// The buffer is written once it holds this much.
const FLUSH_AT: usize = 128 << 10;
/// At most this many files read whole are held open before they are closed together.
const HOLD: usize = 64;

/// An input [`Gather::open`] opened.
pub enum Opened {
    /// Ready to read, with its kind when the open had to look.
    Ready(File, Option<FdInfo>),
    /// A FIFO opened without waiting: write the buffer, then [`Gather::wait_for_writer`].
    Fifo(File),
    /// A device, looked at and closed again: write the buffer, then
    /// [`Gather::open_blocking`].
    Device,
}

/// `O_NONBLOCK` as `open`'s flag bits.
fn libc_nonblock() -> i32 {
    rustix::fs::OFlags::NONBLOCK.bits() as i32
}

#[derive(Debug, Default)]
pub struct Gather {
    buf: Vec<u8>,
    held: Vec<OwnedFd>,
}

impl Gather {
    /// Opens an input for reading. Out of descriptors (`EMFILE`, `ENFILE`) while files are
    /// held, it closes them and tries once more, so holding never makes an open fail.
    /// A name that reaches a descriptor by its number (`/dev/fd/3`) is opened with none held:
    /// GNU cat has closed its earlier inputs by then, so such a number is not one of them.
    ///
    /// With gathered bytes not yet written, the open must not wait (GNU cat has written them
    /// before it opens the next operand): it is made with `O_NONBLOCK` and the input's kind
    /// looked at (its `FdInfo` is returned). A regular file goes on with that descriptor,
    /// blocking again for anything the engine reads; a FIFO is [`Opened::Fifo`]: the caller
    /// writes the buffer, then [`Gather::wait_for_writer`] waits as GNU cat's open would. A
    /// device is [`Opened::Device`]: some drivers act on `O_NONBLOCK` at open (a serial line
    /// does not wait for its carrier, a tape drive opens with no tape), so it is closed, and
    /// opened again blocking, as GNU cat opens it, once the buffer is written. (A `stat`
    /// before each open would spare devices the look, at 1.2 µs more per small file.)
    pub fn open(&mut self, name: &OsStr) -> io::Result<Opened> {
        if names_a_descriptor(name) {
            self.release();
        }
        let pending = !self.buf.is_empty();
        let file = self.open_with(name, pending)?;
        if !pending {
            return Ok(Opened::Ready(file, None));
        }
        let info = FdInfo::stat(&file)?;
        match info.kind {
            FdKind::Pipe => Ok(Opened::Fifo(file)),
            // A small regular file is read whole by `take`, which a non-blocking descriptor
            // does not change; anything else is handed on blocking, as opened without it.
            FdKind::File if info.size <= SMALL => Ok(Opened::Ready(file, Some(info))),
            FdKind::CharDevice | FdKind::BlockDevice | FdKind::Other => Ok(Opened::Device),
            _ => {
                rustix::fs::fcntl_setfl(&file, rustix::fs::OFlags::empty())?;
                Ok(Opened::Ready(file, Some(info)))
            }
        }
    }

    /// Waits on the FIFO `first` (the non-blocking reader [`Gather::open`] made) until a
    /// writer has connected — bytes to read, or a writer come and gone (`POLLHUP`) — which is
    /// when GNU cat's blocking open returns; then hands it on blocking. Opening the path again
    /// instead would wait for a *new* writer if one came, wrote and left meanwhile.
    pub fn wait_for_writer(&mut self, first: File) -> io::Result<File> {
        use rustix::event::{poll, PollFd, PollFlags};
        loop {
            let mut fds = [PollFd::new(&first, PollFlags::IN)];
            match poll(&mut fds, None) {
                Ok(_) if !fds[0].revents().is_empty() => break,
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        rustix::fs::fcntl_setfl(&first, rustix::fs::OFlags::empty())?;
        Ok(first)
    }

    /// Opens an input blocking, as GNU cat does (after [`Opened::Device`]).
    pub fn open_blocking(&mut self, name: &OsStr) -> io::Result<File> {
        self.open_with(name, false)
    }

    fn open_with(&mut self, name: &OsStr, nonblock: bool) -> io::Result<File> {
        use std::os::unix::fs::OpenOptionsExt;
        let open = || {
            let flags = if nonblock { libc_nonblock() } else { 0 };
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(flags)
                .open(name)
        };
        match open() {
            Err(e)
                if [Errno::MFILE, Errno::NFILE]
                    .contains(&Errno::from_io_error(&e).unwrap_or(Errno::IO)) =>
            {
                if self.held.is_empty() {
                    return Err(e);
                }
                self.release();
                open()
            }
            r => r,
        }
    }

    /// Keeps a file that was read whole open until the next batch close.
    pub fn hold(&mut self, file: File) {
        self.held.push(file.into());
        if self.held.len() >= HOLD {
            self.release();
        }
    }

    /// Closes the held files.
    pub fn release(&mut self) {
        splicekit::sys::close_all(&mut self.held);
    }

    /// Appends all of `input`, a regular file of about `size` bytes, to the buffer (a file
    /// that grew since its `fstat` is read on to its new end). Returns the bytes read.
    pub fn take(&mut self, input: BorrowedFd<'_>, size: u64) -> io::Result<u64> {
        let mut total = 0u64;
        // Ask for one byte more than the size: a short read then says the file ended.
        let mut want = size as usize + 1;
        loop {
            let at = self.buf.len();
            self.buf.resize(at + want, 0);
            let r = sys::read(input, &mut self.buf[at..], None);
            let n = *r.as_ref().unwrap_or(&0);
            self.buf.truncate(at + n);
            match r {
                Ok(n) if n < want => return Ok(total + n as u64),
                Ok(n) => {
                    total += n as u64;
                    want = 64 << 10;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A file system that honours O_NONBLOCK on a regular file (see `open`).
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    rustix::fs::fcntl_setfl(input, rustix::fs::OFlags::empty())?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether the buffer is due to be written.
    pub fn full(&self) -> bool {
        self.buf.len() >= FLUSH_AT
    }

    /// Writes the buffer out and closes the held files (`cat` flushes before any input it
    /// does not gather: none stays open while a pipe or a big file is read); returns the
    /// bytes written.
    pub fn flush(&mut self, out: BorrowedFd<'_>) -> io::Result<u64> {
        self.release();
        crate::util::write_all(out, &self.buf)?;
        let n = self.buf.len() as u64;
        self.buf.clear();
        Ok(n)
    }
}

/// Whether `name` is spelled as a path to a descriptor by number: `/dev/fd/N`,
/// `/proc/self/fd/N`, `/proc/thread-self/fd/N` or `/proc/PID/fd/N`.
fn names_a_descriptor(name: &OsStr) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let b = name.as_bytes();
    if b.starts_with(b"/dev/fd/") {
        return true;
    }
    let Some(rest) = b.strip_prefix(b"/proc/") else {
        return false;
    };
    let Some(slash) = rest.iter().position(|&c| c == b'/') else {
        return false;
    };
    let who = &rest[..slash];
    let ours = who == b"self"
        || who == b"thread-self"
        || who.iter().all(u8::is_ascii_digit) && !who.is_empty();
    ours && rest[slash..].starts_with(b"/fd/")
}

#[cfg(test)]
mod tests {
    use super::names_a_descriptor as n;

    #[test]
    fn names_that_reach_a_descriptor_by_number() {
        for yes in [
            "/dev/fd/3",
            "/proc/self/fd/3",
            "/proc/thread-self/fd/10",
            "/proc/42/fd/3",
        ] {
            assert!(n(yes.as_ref()), "{yes}");
        }
        for no in [
            "/dev/fdx",
            "fd/3",
            "/proc/self/fdinfo/3",
            "/proc/x1/fd/3",
            "/proc//fd/3",
            "a",
        ] {
            assert!(!n(no.as_ref()), "{no}");
        }
    }
}
