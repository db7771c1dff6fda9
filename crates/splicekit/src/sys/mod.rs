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
    ///
    /// ```
    /// use splicekit::sys::{self, PipeFlags, SpliceFlags};
    /// let (r, w) = sys::pipe(PipeFlags::CLOEXEC)?;
    /// // An empty pipe: with NONBLOCK the splice says EAGAIN instead of waiting for a writer.
    /// let (_r2, w2) = sys::pipe(PipeFlags::CLOEXEC)?;
    /// let e = sys::splice(&r, None, &w2, None, 4096, SpliceFlags::NONBLOCK | SpliceFlags::MOVE)
    ///     .unwrap_err();
    /// assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    /// # drop(w); Ok::<(), std::io::Error>(())
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct SpliceFlags: u32 {
        /// `SPLICE_F_MOVE`: ask the kernel to move pages instead of copying. A hint with no
        /// effect on current kernels.
        const MOVE = 0x01;
        /// `SPLICE_F_NONBLOCK`: do not block on the *pipe*. It does not make a socket
        /// non-blocking: TCP still blocks (kernel-facts N13).
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
    ///
    /// ```
    /// use splicekit::sys::{self, PipeFlags};
    /// let (r, _w) = sys::pipe(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
    /// let e = sys::read(&r, &mut [0; 16], None).unwrap_err(); // empty, and non-blocking
    /// assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    /// # Ok::<(), std::io::Error>(())
    /// ```
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
/// `len` is clamped to [`MAX_RW_COUNT`].
/// See [splice(2)](https://man7.org/linux/man-pages/man2/splice.2.html).
///
/// ```
/// use std::io::Write;
/// use splicekit::sys::{self, PipeFlags, SpliceFlags};
/// let mut file = tempfile::tempfile()?;
/// file.write_all(b"0123456789")?;
/// let (r, w) = sys::pipe(PipeFlags::CLOEXEC)?;
/// let mut off = 3; // read the file at offset 3; its own position (10) stays
/// assert_eq!(sys::splice(&file, Some(&mut off), &w, None, 4, SpliceFlags::empty())?, 4);
/// assert_eq!(off, 7);
/// let mut got = [0; 4];
/// sys::read(&r, &mut got, None)?;
/// assert_eq!(&got, b"3456");
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
/// The kernel's errno, untouched (the conformance tests check each, kernel-facts §1):
/// * `EBADF` — a descriptor not open, or not open for the direction it is used in;
/// * `EINVAL` — neither side a pipe, an `O_APPEND` destination (kernel-facts B32), a
///   descriptor kind without splice support, both ends of the same pipe, or an unaligned
///   length into an `O_DIRECT` file (B36);
/// * `ESPIPE` — an offset given for a pipe or socket;
/// * `EAGAIN` — [`SpliceFlags::NONBLOCK`] and the pipe side is empty or full, or a
///   non-blocking socket would block;
/// * `EPIPE` — the destination's readers are gone (with `SIGPIPE` ignored; with its default
///   action the process is killed first, kernel-facts P1–P6);
/// * `EINTR` — a signal arrived before anything moved; nothing is retried here.
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
/// Returns `0` when the source is empty and its writers are gone. Calling it twice without
/// consuming the source duplicates the same head bytes twice (kernel-facts T13).
/// See [tee(2)](https://man7.org/linux/man-pages/man2/tee.2.html).
///
/// ```
/// use splicekit::sys::{self, PipeFlags, SpliceFlags};
/// let (src_r, src_w) = sys::pipe(PipeFlags::CLOEXEC)?;
/// let (dup_r, dup_w) = sys::pipe(PipeFlags::CLOEXEC)?;
/// sys::write(&src_w, b"twice", None)?;
/// assert_eq!(sys::tee(&src_r, &dup_w, 64, SpliceFlags::empty())?, 5);
/// let (mut a, mut b) = ([0; 5], [0; 5]);
/// sys::read(&src_r, &mut a, None)?; // still there in the source
/// sys::read(&dup_r, &mut b, None)?;
/// assert_eq!((&a, &b), (b"twice", b"twice"));
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
/// * `EINVAL` — either side not a pipe, or both the same pipe;
/// * `EBADF` — a wrong end (the write end as input, the read end as output) or a closed one;
/// * `EAGAIN` — [`SpliceFlags::NONBLOCK`] and the source is empty or the destination full;
/// * `EPIPE` — the destination's readers are gone (`SIGPIPE` as for [`splice`]).
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
/// See [pipe(2)](https://man7.org/linux/man-pages/man2/pipe.2.html).
///
/// # Errors
/// `EMFILE` (this process) or `ENFILE` (the system) when out of descriptors; `ENFILE` also
/// when the user's pipe quota (`/proc/sys/fs/pipe-user-pages-*`) is used up.
pub fn pipe(flags: PipeFlags) -> io::Result<(OwnedFd, OwnedFd)> {
    let raw = rustix::pipe::PipeFlags::from_bits_retain(flags.bits());
    rustix::pipe::pipe_with(raw).map_err(errno)
}

/// `fcntl(F_GETPIPE_SZ)`: returns the capacity of the pipe in bytes (65536 for a new pipe).
///
/// # Errors
/// `EBADF` for a closed descriptor or one that is not a pipe.
pub fn pipe_capacity<P: AsFd>(pipe: P) -> io::Result<usize> {
    rustix::pipe::fcntl_getpipe_size(pipe.as_fd()).map_err(errno)
}

/// `fcntl(F_SETPIPE_SZ)`: asks for a pipe capacity of at least `size` bytes and returns the
/// capacity granted (a power-of-two number of pages).
///
/// ```
/// use splicekit::sys::{self, PipeFlags};
/// let (r, _w) = sys::pipe(PipeFlags::CLOEXEC)?;
/// assert_eq!(sys::set_pipe_capacity(&r, 5000)?, 8192); // rounded up to a power of two pages
/// assert_eq!(sys::pipe_capacity(&r)?, 8192);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
/// * `EPERM` — above `/proc/sys/fs/pipe-max-size` without `CAP_SYS_RESOURCE`, or the
///   per-user pipe quota is exceeded (kernel-facts F27, X10);
/// * `EBUSY` — shrinking below the bytes queued in the pipe (F27);
/// * `EINVAL` — a size the kernel cannot represent;
/// * `EBADF` — a closed descriptor or one that is not a pipe.
///
/// A refused resize leaves the pipe usable at its old size.
pub fn set_pipe_capacity<P: AsFd>(pipe: P, size: usize) -> io::Result<usize> {
    rustix::pipe::fcntl_setpipe_size(pipe.as_fd(), size).map_err(errno)
}

/// `ioctl(FIONREAD)`: returns the bytes waiting to be read from a pipe or socket.
///
/// # Errors
/// `EBADF` for a closed descriptor; `ENOTTY` (or `EINVAL`) for a kind without `FIONREAD`,
/// such as a directory.
pub fn readable_bytes<F: AsFd>(fd: F) -> io::Result<u64> {
    rustix::io::ioctl_fionread(fd.as_fd()).map_err(errno)
}

/// `sendfile(2)`: copies up to `count` bytes from `in_fd` (a file-like descriptor: a regular
/// file, memfd, `/dev/zero`, a seq_file in `/proc`, …) to `out_fd` (any descriptor that can be
/// written), inside the kernel.
///
/// With `offset` set, `in_fd` is read there, the offset is advanced and the file position stays;
/// with `None` the position is used and advanced. `count` is clamped to [`MAX_RW_COUNT`].
/// See [sendfile(2)](https://man7.org/linux/man-pages/man2/sendfile.2.html).
///
/// # Errors
/// * `EINVAL` — `in_fd` is a pipe or socket, `out_fd` is `O_APPEND` (kernel-facts B32), or
///   the source has no splice support (per-process `/proc` files, `/dev/null`);
/// * `ESPIPE` — an offset given for a source that cannot seek;
/// * `EAGAIN` — a non-blocking `out_fd` is full;
/// * `EPIPE` — `out_fd` is a pipe or socket whose reader is gone (`SIGPIPE` as for
///   [`splice`]);
/// * `EBADF` — a descriptor not open for the direction it is used in.
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
/// Offsets behave as in [`splice`]. The syscall is made directly (rustix's raw backend), so a
/// result above `INT_MAX` is not mangled as glibc 2.41/2.42 did (kernel-facts F14). It may
/// return `0` before the end on pseudo files whose size lies (F8).
/// See [copy_file_range(2)](https://man7.org/linux/man-pages/man2/copy_file_range.2.html).
///
/// # Errors
/// * `EXDEV` — the files are on different superblocks (again since Linux 5.19, kernel-facts
///   F9) or one is a pseudo file;
/// * `EBADF` — an `O_APPEND` destination (F5), or a descriptor not open for its direction;
/// * `EINVAL` — a pipe, socket or device, or overlapping ranges of one file;
/// * `EISDIR` — a directory;
/// * `ENOSYS`, `EPERM` — refused by a seccomp filter or an old kernel (F10);
/// * `EOPNOTSUPP` and others — filesystems that do not support it (F12).
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
///
/// # Errors
/// The kernel's errno: `EAGAIN` on an empty non-blocking descriptor, `EINTR`, `EBADF`,
/// `EISDIR`, `EIO`; with an offset, `ESPIPE` for a pipe or socket.
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
///
/// # Errors
/// The kernel's errno: `EAGAIN` on a full non-blocking descriptor, `EPIPE` for a pipe or
/// socket without readers (`SIGPIPE` as for [`splice`]), `ENOSPC`, `EDQUOT`, `EFBIG`, `EINTR`,
/// `EBADF`; with an offset, `ESPIPE` for a pipe or socket.
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

/// Closes every descriptor in `fds` (which is left empty): each run of consecutive numbers in
/// one `close_range(2)` call (Linux 5.9+), single descriptors and runs the kernel refuses by
/// one `close` each. A program that opens many small inputs one after another (`cat *.log`)
/// and holds each until a batch is done gets consecutive numbers, and so one call per batch
/// where it would make one per input. Errors from closing are ignored, as `OwnedFd`'s drop
/// ignores them: nothing was written through these descriptors.
pub fn close_all(fds: &mut Vec<OwnedFd>) {
    use std::os::fd::{AsRawFd, IntoRawFd};
    fds.sort_unstable_by_key(|f| f.as_raw_fd());
    let mut rest = std::mem::take(fds);
    while !rest.is_empty() {
        let first = rest[0].as_raw_fd();
        let run = rest
            .iter()
            .enumerate()
            .take_while(|(i, f)| f.as_raw_fd() == first + *i as i32)
            .count();
        let tail = rest.split_off(run);
        if run > 1 {
            let last = first + run as i32 - 1;
            // Every number in `first..=last` belongs to an `OwnedFd` in `rest` (the run is
            // consecutive and sorted); on success each is released with `into_raw_fd` below.
            // SAFETY: the range holds only descriptors this function owns, so no one else's
            // is closed, and none is closed twice.
            let r = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
            if r == 0 {
                for f in rest {
                    let _closed = f.into_raw_fd();
                }
            }
        }
        // A single descriptor, or a refused `close_range`: dropped, one `close` each.
        rest = tail;
    }
}
