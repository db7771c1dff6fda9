//! The exact system-call layer: one function per call, no policy, no retries.
//!
//! Every function here does what its C call does and returns the kernel's errno untouched
//! (as an [`std::io::Error`] whose `raw_os_error()` is the errno). The only adjustment is that
//! lengths are clamped to [`MAX_RW_COUNT`], the most the kernel moves in one call: a larger
//! `len` would otherwise be rejected with `EINVAL` when it exceeds `SSIZE_MAX` (kernel-facts B17).
//!
//! Policy — retrying `EINTR`, waiting on `EAGAIN`, falling back when a pair is refused — lives
//! in the copy engine ([`crate::copy()`]), never here.
//!
//! This module is the only place in the crate that contains `unsafe` code; every block carries
//! a `// SAFETY:` comment naming the invariant it relies on.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

mod activation;
mod pages;
mod signal;
#[cfg(feature = "io-uring")]
pub(crate) mod uring;
mod vmsplice;

pub use activation::{take_listen_fds, LISTEN_FDS_START};
pub use pages::{Frozen, FrozenPages, PageBuf, PageSize};
pub use signal::{
    ignore_sigint, ignore_sigpipe, restore_sigpipe_default, restore_sigpipe_inherited,
    sigpipe_ignored_at_start, stdio_closed_at_start,
};
pub use vmsplice::{vmsplice, vmsplice_frozen, vmsplice_read, IOV_MAX};

/// The most bytes Linux moves in a single `read`, `write`, `splice`, `sendfile` or
/// `copy_file_range` call (`MAX_RW_COUNT`, `INT_MAX` rounded down to a page).
pub const MAX_RW_COUNT: usize = 0x7fff_f000;

bitflags::bitflags! {
    /// Flags for `splice(2)`, `tee(2)` and `vmsplice(2)`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct SpliceFlags: u32 {
        /// `SPLICE_F_MOVE`: ask the kernel to move pages instead of copying. A hint with no
        /// effect on current kernels.
        const MOVE = 0x01;
        /// `SPLICE_F_NONBLOCK`: do not block on the *pipe*. It does not make a socket
        /// non-blocking: TCP still blocks (kernel-facts N13, X2).
        const NONBLOCK = 0x02;
        /// `SPLICE_F_MORE`: more data follows; a hint for sockets (like `MSG_MORE`).
        const MORE = 0x04;
        /// `SPLICE_F_GIFT`: for `vmsplice`, the pages are given to the kernel for good.
        const GIFT = 0x08;
    }
}

impl SpliceFlags {
    fn raw(self) -> rustix::pipe::SpliceFlags {
        rustix::pipe::SpliceFlags::from_bits_retain(self.bits())
    }
}

bitflags::bitflags! {
    /// Flags for [`pipe`] (`pipe2(2)`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct PipeFlags: u32 {
        /// `O_CLOEXEC`: close both ends on `exec`.
        const CLOEXEC = 0o2000000;
        /// `O_NONBLOCK`: both ends non-blocking.
        const NONBLOCK = 0o4000;
        /// `O_DIRECT`: packet mode — each write is a separate packet.
        const DIRECT = 0o40000;
    }
}

fn errno(e: rustix::io::Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// `splice(2)`: moves up to `len` bytes between `fd_in` and `fd_out`, one of which must be a
/// pipe, without copying them through user space.
///
/// With `off_in`/`off_out` set, the file is read or written at that offset, the offset is
/// advanced by the bytes moved and the file's own position stays where it was (kernel-facts B20);
/// with `None` the file position is used and advanced. Returns the bytes moved, `0` at end of
/// input (an empty pipe whose writers are gone, a file at EOF, a closed TCP peer).
///
/// Errors (kernel-facts §1): `EBADF` a descriptor not open for the needed direction, `EINVAL` neither
/// side a pipe, an `O_APPEND` destination, a kind without splice support or the two ends of one
/// pipe; `ESPIPE` an offset given for a pipe; `EAGAIN` would block on a non-blocking pipe;
/// `EPIPE` the pipe's readers are gone (the process also gets `SIGPIPE` unless ignored).
/// `len` is clamped to [`MAX_RW_COUNT`]. See [splice(2)](https://man7.org/linux/man-pages/man2/splice.2.html).
pub fn splice<I: AsFd, O: AsFd>(
    fd_in: I,
    off_in: Option<&mut u64>,
    fd_out: O,
    off_out: Option<&mut u64>,
    len: usize,
    flags: SpliceFlags,
) -> io::Result<usize> {
    splice_fd(fd_in.as_fd(), off_in, fd_out.as_fd(), off_out, len, flags)
}

fn splice_fd(
    fd_in: BorrowedFd<'_>,
    off_in: Option<&mut u64>,
    fd_out: BorrowedFd<'_>,
    off_out: Option<&mut u64>,
    len: usize,
    flags: SpliceFlags,
) -> io::Result<usize> {
    let len = len.min(MAX_RW_COUNT);
    rustix::pipe::splice(fd_in, off_in, fd_out, off_out, len, flags.raw()).map_err(errno)
}

/// `tee(2)`: duplicates up to `len` bytes from the pipe `fd_in` into the pipe `fd_out` without
/// consuming them: the bytes stay readable in `fd_in` (kernel-facts T6).
///
/// Errors: `EINVAL` either side not a pipe or both the same pipe; `EBADF` a wrong end (the write
/// end as input or the read end as output); `EAGAIN` with [`SpliceFlags::NONBLOCK`] when the
/// source is empty or the destination full; `EPIPE` the destination's readers are gone. Returns
/// `0` when the source is empty and its writers are gone. Calling it twice without consuming the
/// source duplicates the same head bytes twice (kernel-facts T13).
/// See [tee(2)](https://man7.org/linux/man-pages/man2/tee.2.html).
pub fn tee<I: AsFd, O: AsFd>(
    fd_in: I,
    fd_out: O,
    len: usize,
    flags: SpliceFlags,
) -> io::Result<usize> {
    tee_fd(fd_in.as_fd(), fd_out.as_fd(), len, flags)
}

fn tee_fd(
    fd_in: BorrowedFd<'_>,
    fd_out: BorrowedFd<'_>,
    len: usize,
    flags: SpliceFlags,
) -> io::Result<usize> {
    rustix::pipe::tee(fd_in, fd_out, len.min(MAX_RW_COUNT), flags.raw()).map_err(errno)
}

/// `pipe2(2)`: creates a pipe and returns its `(read, write)` ends.
///
/// Errors: `EMFILE`/`ENFILE` when out of descriptors.
/// See [pipe(2)](https://man7.org/linux/man-pages/man2/pipe.2.html).
pub fn pipe(flags: PipeFlags) -> io::Result<(OwnedFd, OwnedFd)> {
    let raw = rustix::pipe::PipeFlags::from_bits_retain(flags.bits());
    rustix::pipe::pipe_with(raw).map_err(errno)
}

/// `fcntl(F_GETPIPE_SZ)`: returns the capacity of the pipe in bytes (65536 for a new pipe).
///
/// Errors: `EBADF` for a descriptor that is not a pipe.
pub fn pipe_capacity<P: AsFd>(pipe: P) -> io::Result<usize> {
    rustix::pipe::fcntl_getpipe_size(pipe.as_fd()).map_err(errno)
}

/// `fcntl(F_SETPIPE_SZ)`: asks for a pipe capacity of at least `size` bytes and returns the
/// capacity granted (a power-of-two number of pages).
///
/// Errors: `EPERM` above `/proc/sys/fs/pipe-max-size` without privilege; `EBUSY` when shrinking
/// below the bytes queued (kernel-facts X10, §1 pipe sizing); `EBADF` for a descriptor that is not a pipe.
pub fn set_pipe_capacity<P: AsFd>(pipe: P, size: usize) -> io::Result<usize> {
    rustix::pipe::fcntl_setpipe_size(pipe.as_fd(), size).map_err(errno)
}

/// `ioctl(FIONREAD)`: returns the bytes waiting to be read from a pipe or socket.
pub fn readable_bytes<F: AsFd>(fd: F) -> io::Result<u64> {
    rustix::io::ioctl_fionread(fd.as_fd()).map_err(errno)
}

/// `sendfile(2)`: copies up to `count` bytes from `in_fd` (a file-like descriptor: a regular
/// file, memfd, `/dev/zero`, a seq_file in `/proc`, …) to `out_fd` (any descriptor that can be
/// written), inside the kernel.
///
/// With `offset` set, `in_fd` is read there, the offset is advanced and the file position stays;
/// with `None` the position is used and advanced. Errors: `EINVAL` when `in_fd` is a pipe or
/// socket, `out_fd` is `O_APPEND`, or the source has no splice support (per-process `/proc`
/// files, `/dev/null`); `EAGAIN` on a non-blocking `out_fd`. `count` is clamped to
/// [`MAX_RW_COUNT`]. See [sendfile(2)](https://man7.org/linux/man-pages/man2/sendfile.2.html).
pub fn sendfile<O: AsFd, I: AsFd>(
    out_fd: O,
    in_fd: I,
    offset: Option<&mut u64>,
    count: usize,
) -> io::Result<usize> {
    sendfile_fd(out_fd.as_fd(), in_fd.as_fd(), offset, count)
}

fn sendfile_fd(
    out_fd: BorrowedFd<'_>,
    in_fd: BorrowedFd<'_>,
    offset: Option<&mut u64>,
    count: usize,
) -> io::Result<usize> {
    rustix::fs::sendfile(out_fd, in_fd, offset, count.min(MAX_RW_COUNT)).map_err(errno)
}

/// `copy_file_range(2)`: copies up to `len` bytes between two regular files on the same
/// filesystem, letting the filesystem reflink or offload the copy.
///
/// Offsets behave as in [`splice`]. Errors: `EXDEV` for different superblocks (since 5.19) or
/// pseudo files; `EBADF` for an `O_APPEND` destination; `EINVAL` for pipes, sockets, devices
/// or overlapping ranges of one file; `EISDIR` for a directory; `ENOSYS`/`EPERM` under some
/// seccomp filters. The syscall is made directly (rustix's raw backend), so a result above
/// `INT_MAX` is not mangled as glibc 2.41/2.42 did (kernel-facts F14).
/// See [copy_file_range(2)](https://man7.org/linux/man-pages/man2/copy_file_range.2.html).
pub fn copy_file_range<I: AsFd, O: AsFd>(
    fd_in: I,
    off_in: Option<&mut u64>,
    fd_out: O,
    off_out: Option<&mut u64>,
    len: usize,
) -> io::Result<usize> {
    let (i, o) = (fd_in.as_fd(), fd_out.as_fd());
    rustix::fs::copy_file_range(i, off_in, o, off_out, len.min(MAX_RW_COUNT)).map_err(errno)
}

/// `read(2)`, or `pread(2)` when `offset` is set (the offset is then advanced by the bytes
/// read).
pub fn read<F: AsFd>(fd: F, buf: &mut [u8], offset: Option<&mut u64>) -> io::Result<usize> {
    let fd = fd.as_fd();
    let n = match offset {
        Some(off) => {
            let n = rustix::io::pread(fd, buf, *off).map_err(errno)?;
            *off += n as u64;
            n
        }
        None => rustix::io::read(fd, buf).map_err(errno)?,
    };
    Ok(n)
}

/// `write(2)`, or `pwrite(2)` when `offset` is set (the offset is then advanced by the bytes
/// written).
pub fn write<F: AsFd>(fd: F, buf: &[u8], offset: Option<&mut u64>) -> io::Result<usize> {
    let fd = fd.as_fd();
    match offset {
        Some(off) => {
            let n = rustix::io::pwrite(fd, buf, *off).map_err(errno)?;
            *off += n as u64;
            Ok(n)
        }
        None => rustix::io::write(fd, buf).map_err(errno),
    }
}
