//! The crate's one error type: which operation failed, on which kinds, after how many bytes.

use std::fmt;
use std::io;

use crate::kind::FdKind;

/// The system call (or step) that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// `splice(2)`.
    Splice,
    /// `tee(2)`.
    Tee,
    /// `vmsplice(2)`.
    Vmsplice,
    /// `sendfile(2)`.
    Sendfile,
    /// `copy_file_range(2)`.
    CopyFileRange,
    /// `read(2)` / `pread(2)`.
    Read,
    /// `write(2)` / `pwrite(2)`.
    Write,
    /// `pipe2(2)` or sizing a pipe.
    Pipe,
    /// `poll(2)` while waiting for readiness.
    Poll,
    /// `fstat`/`fcntl` while classifying a descriptor.
    Stat,
    /// `shutdown(2)` of a socket's write half (a relay passing an EOF on).
    Shutdown,
    /// No byte moved either way for longer than a relay's idle timeout.
    Idle,
    /// A relay stopped from outside (`tokio::relay_until`): a lifetime ran out, a shutdown.
    Stop,
    /// A check made by the engine itself (a promised length not delivered, same file in and out).
    Check,
    /// `mmap(2)`/`madvise(2)` while mapping pages to vmsplice ([`crate::VmspliceWriter::page`]).
    Mmap,
}

impl Op {
    /// The name of the call, as printed in messages.
    pub fn name(self) -> &'static str {
        match self {
            Op::Splice => "splice",
            Op::Tee => "tee",
            Op::Vmsplice => "vmsplice",
            Op::Sendfile => "sendfile",
            Op::CopyFileRange => "copy_file_range",
            Op::Read => "read",
            Op::Write => "write",
            Op::Pipe => "pipe",
            Op::Poll => "poll",
            Op::Stat => "fstat",
            Op::Shutdown => "shutdown",
            Op::Idle => "idle timeout",
            Op::Stop => "stop",
            Op::Check => "copy",
            Op::Mmap => "mmap",
        }
    }
}

/// Which end of a transfer an error belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Reading the source failed (`cat: FILE: Input/output error`).
    Input,
    /// Writing the sink failed (`cat: write error: No space left on device`).
    Output,
}

/// An I/O error with its context: the operation, the source and sink kinds, the side it
/// belongs to and the bytes delivered to the sink before it happened.
///
/// `Display` reads like `splice(pipe -> TCP socket) failed after 131072 bytes: Broken pipe (os
/// error 32)`. Every byte counted in [`Error::bytes_moved`] reached the sink.
///
/// ```
/// use splicekit::{FdKind, Pipe, Side};
/// let (r, w) = Pipe::new()?.into_ends();
/// drop(r); // nobody will read
/// let src = std::fs::File::open("/dev/zero")?;
/// let opts = splicekit::CopyOptions { len: Some(10), ..Default::default() };
/// let e = splicekit::copy_with(&src, &w, &opts).unwrap_err();
/// assert!(e.is_broken_pipe());
/// assert_eq!((e.sink_kind(), e.side(), e.bytes_moved()), (FdKind::Pipe, Side::Output, 0));
/// assert_eq!(e.raw_os_error(), Some(32)); // EPIPE
/// println!("{e}"); // write(character device -> pipe) failed after 0 bytes: Broken pipe …
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Error {
    op: Op,
    src: FdKind,
    dst: FdKind,
    side: Side,
    moved: u64,
    source: io::Error,
}

impl Error {
    /// Builds an error; used by the engine and by callers composing their own transfers.
    pub fn new(
        op: Op,
        src: FdKind,
        dst: FdKind,
        side: Side,
        moved: u64,
        source: io::Error,
    ) -> Self {
        Error {
            op,
            src,
            dst,
            side,
            moved,
            source,
        }
    }

    /// An error of one direction of a relay (socket → pipe → socket, or through a buffer
    /// once `spliced` is false): a failed splice names the broker pipe as the other end of
    /// the hop that failed, anything else the two sockets.
    #[cfg(feature = "tokio")]
    pub(crate) fn of_hop(
        spliced: bool,
        op: Op,
        (src, dst): (FdKind, FdKind),
        side: Side,
        moved: u64,
        source: io::Error,
    ) -> Self {
        let (src, dst) = match (spliced, op, side) {
            (true, Op::Splice, Side::Input) => (src, FdKind::Pipe),
            (true, Op::Splice, Side::Output) => (FdKind::Pipe, dst),
            _ => (src, dst),
        };
        Error::new(op, src, dst, side, moved, source)
    }

    /// The operation that failed.
    pub fn op(&self) -> Op {
        self.op
    }
    /// The kind of the source descriptor.
    pub fn source_kind(&self) -> FdKind {
        self.src
    }
    /// The kind of the sink descriptor.
    pub fn sink_kind(&self) -> FdKind {
        self.dst
    }
    /// Whether the input or the output failed.
    pub fn side(&self) -> Side {
        self.side
    }
    /// Bytes that reached the sink before the error.
    pub fn bytes_moved(&self) -> u64 {
        self.moved
    }
    /// The underlying I/O error (its `raw_os_error()` is the kernel's errno).
    pub fn io_error(&self) -> &io::Error {
        &self.source
    }
    /// The kernel's errno, when the failure was a system call's.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
    /// Consumes the error, returning the underlying I/O error (the errno, without the
    /// operation and descriptor kinds).
    pub fn into_io_error(self) -> io::Error {
        self.source
    }
    /// Whether the sink's reader is gone (`EPIPE`): the caller should stop, not retry.
    pub fn is_broken_pipe(&self) -> bool {
        self.source.kind() == io::ErrorKind::BrokenPipe
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}({} -> {}) failed after {} bytes: {}",
            self.op.name(),
            self.src,
            self.dst,
            self.moved,
            self.source
        )
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// An `io::Error` of the same [`io::ErrorKind`] that carries the whole [`Error`] (operation,
/// kinds, side, bytes moved) as its inner error. `std` cannot hold a custom payload and an
/// errno at once, so `raw_os_error()` on the result is `None`; the errno stays reachable:
///
/// ```
/// # fn main() {
/// use std::io;
/// let e = splicekit::Error::new(
///     splicekit::Op::Splice,
///     splicekit::FdKind::Pipe,
///     splicekit::FdKind::Pipe,
///     splicekit::Side::Output,
///     0,
///     io::Error::from_raw_os_error(32),
/// );
/// let io: io::Error = e.into();
/// assert_eq!(io.kind(), io::ErrorKind::BrokenPipe);
/// let errno = io
///     .get_ref()
///     .and_then(|e| e.downcast_ref::<splicekit::Error>())
///     .and_then(splicekit::Error::raw_os_error);
/// assert_eq!(errno, Some(32));
/// # }
/// ```
///
/// Where the errno itself must be the `io::Error`, use [`Error::into_io_error`].
impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = e.source.kind();
        io::Error::new(kind, e)
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
