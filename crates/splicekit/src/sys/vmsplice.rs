//! `vmsplice(2)`: the raw write direction (`unsafe`), the safe write of frozen pages, and the
//! safe read direction.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, BorrowedFd};

use rustix::fs::OFlags;
use rustix::pipe::IoSliceRaw;

use super::pages::Frozen;
use super::{errno, SpliceFlags};

/// The most segments one `vmsplice` call accepts (`UIO_MAXIOV`); more gives `EINVAL` (kernel-facts V3).
pub const IOV_MAX: usize = 1024;

/// `vmsplice(2)` on the write end of a pipe: maps the pages behind `bufs` into the pipe.
///
/// Returns the bytes queued. See
/// [vmsplice(2)](https://man7.org/linux/man-pages/man2/vmsplice.2.html).
///
/// The safe ways to vmsplice are [`vmsplice_frozen`] and the writer built on it,
/// [`crate::VmspliceWriter`]; this function is for callers that keep the contract below
/// themselves, for example a producer whose consumer is known to `read()` the pipe.
///
/// # Errors
/// * `EBADF` — not a pipe's write end (kernel-facts V1/V2); a read-only descriptor is refused
///   before the call, since the kernel would copy the pipe *into* `bufs`;
/// * `EINVAL` — more than [`IOV_MAX`] segments (checked before the call, V3) or unknown flags;
/// * `EAGAIN` — [`SpliceFlags::NONBLOCK`] and the pipe is full;
/// * `EPIPE` — the pipe has no readers (`SIGPIPE` as for [`splice`](super::splice));
/// * `EOPNOTSUPP` — [`SpliceFlags::GIFT`] on kernels that no longer take it (F13).
///
/// # Safety
/// The pipe keeps *references* to the pages behind `bufs`, not copies (kernel-facts V14–V18): a
/// later write to that memory changes what the reader gets. The caller must not modify, free
/// or otherwise reuse that memory until every byte queued by this call has been consumed by a
/// reader that *copies* it out (`read(2)`; a `splice` onward to another pipe or a socket
/// carries the reference further, kernel-facts V18), or else must never write, free or reuse the
/// memory again. [`SpliceFlags::GIFT`] changes none of this: gifted pages are referenced the
/// same way (kernel-facts V16).
pub unsafe fn vmsplice(
    pipe_w: BorrowedFd<'_>,
    bufs: &[IoSlice<'_>],
    flags: SpliceFlags,
) -> io::Result<usize> {
    check_segments(bufs.len())?;
    check_writable(pipe_w)?;
    let raw: Vec<IoSliceRaw<'_>> = bufs.iter().map(|b| IoSliceRaw::from_slice(b)).collect();
    // The descriptor was checked to be open for writing (an open file's access mode never
    // changes): the kernel takes the user-to-pipe direction and only reads `bufs`.
    // SAFETY: `bufs` are valid for reads during the call (the kernel only reads them, see
    // above); the caller keeps the contract about the pages after it returns.
    unsafe { rustix::pipe::vmsplice(pipe_w, &raw, flags.raw()) }.map_err(errno)
}

/// `vmsplice(2)` of immutable memory into the write end of a pipe: queues `segs`, in order,
/// as references to their pages, and returns the bytes queued (possibly fewer than asked; a
/// blocking call waits for room for at least some).
///
/// Safe because [`FrozenPages`](super::FrozenPages) can never be written again by anyone, so whatever the reader
/// does with the references (read them, splice them onward to other pipes, keep them for
/// hours) it sees exactly these bytes.
///
/// ```
/// use splicekit::sys::{self, PageBuf, PageSize, PipeFlags, SpliceFlags};
/// let mut buf = PageBuf::new(4096, PageSize::Base)?;
/// buf[..3].copy_from_slice(b"abc");
/// buf.truncate(3);
/// let frozen = buf.freeze();
/// let (r, w) = sys::pipe(PipeFlags::CLOEXEC)?;
/// // The same immutable pages, twice: no one can change them under the pipe.
/// let n = sys::vmsplice_frozen(&w, &[frozen.all(), frozen.all()], SpliceFlags::empty())?;
/// assert_eq!(n, 6);
/// let mut got = [0; 6];
/// sys::read(&r, &mut got, None)?;
/// assert_eq!(&got, b"abcabc");
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
/// As [`vmsplice`]: `EBADF` not a pipe's write end (read-only descriptors are refused before
/// the call, as the kernel would write into them), `EINVAL` more than [`IOV_MAX`] segments or
/// unknown flags, `EAGAIN` with [`SpliceFlags::NONBLOCK`] on a full pipe, `EPIPE` no
/// readers, `EOPNOTSUPP` on kernels that no longer accept [`SpliceFlags::GIFT`]
/// (kernel-facts F13).
pub fn vmsplice_frozen<P: AsFd>(
    pipe_w: P,
    segs: &[Frozen<'_>],
    flags: SpliceFlags,
) -> io::Result<usize> {
    let iov: Vec<IoSlice<'_>> = segs.iter().map(|s| IoSlice::new(s.bytes())).collect();
    // SAFETY: every segment lies in `FrozenPages`, which no one can modify (there is no
    // `&mut` access to it after `PageBuf::freeze`) and which is unmapped, never reused, when
    // the last clone drops: the pipe keeps its own references to the pages (kernel-facts V17).
    unsafe { vmsplice(pipe_w.as_fd(), &iov, flags) }
}

/// `vmsplice(2)` on the read end of a pipe: fills `bufs` from the pipe, in order, consuming
/// what it copies. A copy, like `readv`, but without a bounce through a socket buffer.
///
/// Returns the bytes copied; `0` when the pipe is empty and its writers are gone. To keep the
/// call safe, `pipe_r` must have been opened read-only: the kernel treats a descriptor open for
/// writing (including `O_RDWR` FIFOs) as the *write* direction, which would map `bufs` into the
/// pipe; such a descriptor is refused with `EBADF` before any call.
///
/// # Errors
/// `EBADF` for a descriptor open for writing (checked before the call), a closed one or one
/// that is not a pipe; `EINVAL` more than [`IOV_MAX`] segments; `EAGAIN` with
/// [`SpliceFlags::NONBLOCK`] on an empty pipe.
pub fn vmsplice_read<P: AsFd>(
    pipe_r: P,
    bufs: &mut [IoSliceMut<'_>],
    flags: SpliceFlags,
) -> io::Result<usize> {
    let fd = pipe_r.as_fd();
    check_segments(bufs.len())?;
    let mode = rustix::fs::fcntl_getfl(fd).map_err(errno)?;
    if mode & OFlags::RWMODE != OFlags::RDONLY {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    let raw: Vec<IoSliceRaw<'_>> = bufs
        .iter_mut()
        .map(|b| IoSliceRaw::from_slice_mut(b))
        .collect();
    // SAFETY: `fd` is open read-only (checked above; an open file's access mode cannot change),
    // so the kernel takes the pipe-to-user direction and only writes into `bufs`, which are
    // exclusively borrowed for the call; no reference to them survives it.
    unsafe { rustix::pipe::vmsplice(fd, &raw, flags.raw()) }.map_err(errno)
}

/// `vmsplice(2)` picks its direction from the descriptor: open for writing, memory goes into
/// the pipe; open read-only, the pipe's bytes are copied *into* the segments, which the write
/// functions only borrow immutably. So the write direction refuses read-only descriptors with
/// `EBADF` (the kernel's answer for a descriptor of the wrong kind) before the call.
fn check_writable(fd: BorrowedFd<'_>) -> io::Result<()> {
    let mode = rustix::fs::fcntl_getfl(fd).map_err(errno)?;
    if mode & OFlags::RWMODE == OFlags::RDONLY {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    Ok(())
}

/// The kernel refuses more than [`IOV_MAX`] segments with `EINVAL` (kernel-facts V3); rustix would
/// silently pass only the first `IOV_MAX`, so the limit is enforced here with the kernel's errno.
fn check_segments(n: usize) -> io::Result<()> {
    if n > IOV_MAX {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{pipe, PipeFlags};

    fn write_raw(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        // SAFETY: the tests read the pipe with read(2) before the buffers go out of scope and
        // never modify them in between, except `reuse_behind_the_pipe_changes_what_the_reader_sees`,
        // which breaks the contract on purpose and only affects its own bytes.
        unsafe { vmsplice(fd, bufs, SpliceFlags::empty()) }
    }

    #[test]
    fn reuse_behind_the_pipe_changes_what_the_reader_sees() {
        // The hazard the safe writer prevents (kernel-facts V18): one buffer refilled and vmspliced
        // 32 times while a mover splices everything onward to a second pipe that is read only
        // at the end. Earlier chunks show later bytes. The integration test
        // `the_safe_writer_never_lets_the_reader_see_a_modified_page` runs the same pattern
        // through the safe writer and must see every chunk intact.
        let (r, w) = pipe(PipeFlags::CLOEXEC).unwrap();
        let (r2, w2) = pipe(PipeFlags::CLOEXEC).unwrap();
        crate::sys::set_pipe_capacity(&w2, 1 << 20).unwrap();
        let mover = std::thread::spawn(move || {
            while crate::sys::splice(&r, None, &w2, None, 1 << 20, SpliceFlags::empty()).unwrap()
                > 0
            {}
        });
        let mut buf = crate::sys::PageBuf::new(16 << 10, crate::sys::PageSize::Base).unwrap();
        for i in 0..32u8 {
            buf.fill(i);
            // One call takes a 16 KiB buffer whole when the mover keeps the pipe drained;
            // if not, the loop finishes it.
            let mut done = 0;
            while done < buf.len() {
                done += write_raw(w.as_fd(), &[IoSlice::new(&buf[done..])]).unwrap();
            }
        }
        drop(w);
        mover.join().unwrap();
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut std::fs::File::from(r2), &mut got).unwrap();
        assert_eq!(got.len(), 32 << 14);
        let changed = got
            .chunks(16 << 10)
            .enumerate()
            .filter(|(i, c)| c.iter().any(|&b| b != *i as u8))
            .count();
        assert!(changed > 0, "reusing the buffer went unnoticed");
    }

    #[test]
    fn the_write_direction_refuses_read_ends_and_leaves_memory_alone() {
        // On a read-only descriptor the kernel would copy the pipe into the "source" slices.
        let (r, w) = pipe(PipeFlags::CLOEXEC).unwrap();
        crate::sys::write(&w, b"pipe bytes", None).unwrap();
        let mine = *b"mine";
        let err = write_raw(r.as_fd(), &[IoSlice::new(&mine)]).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        assert_eq!(&mine, b"mine");
        assert_eq!(crate::sys::readable_bytes(&r).unwrap(), 10);
    }

    #[test]
    fn segments_are_concatenated() {
        let (r, w) = pipe(PipeFlags::CLOEXEC).unwrap();
        let parts = [b"hello".as_slice(), b" ", b"world"];
        let iov: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
        assert_eq!(write_raw(w.as_fd(), &iov).unwrap(), 11);
        let mut out = [0u8; 11];
        assert_eq!(crate::sys::read(&r, &mut out, None).unwrap(), 11);
        assert_eq!(&out, b"hello world");
    }

    #[test]
    fn more_than_iov_max_segments_is_einval() {
        let (_r, w) = pipe(PipeFlags::CLOEXEC).unwrap();
        let byte = [7u8];
        let iov = vec![IoSlice::new(&byte); IOV_MAX + 1];
        let err = write_raw(w.as_fd(), &iov).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    }

    #[test]
    fn zero_segments_return_zero_and_unknown_flags_are_einval() {
        let (_r, w) = pipe(PipeFlags::CLOEXEC).unwrap();
        assert_eq!(write_raw(w.as_fd(), &[]).unwrap(), 0);
        let b = [1u8];
        // SAFETY: the call fails with EINVAL before any page is referenced.
        let err = unsafe {
            vmsplice(
                w.as_fd(),
                &[IoSlice::new(&b)],
                SpliceFlags::from_bits_retain(0xf0),
            )
        }
        .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    }

    #[test]
    fn write_end_without_readers_is_epipe() {
        super::super::ignore_sigpipe().unwrap();
        let (r, w) = pipe(PipeFlags::CLOEXEC).unwrap();
        drop(r);
        let b = [1u8; 8];
        let err = write_raw(w.as_fd(), &[IoSlice::new(&b)]).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPIPE));
    }

    #[test]
    fn read_direction_fills_user_memory_and_refuses_write_ends() {
        let (r, w) = pipe(PipeFlags::CLOEXEC).unwrap();
        crate::sys::write(&w, b"abcdefghi", None).unwrap();
        let (mut a, mut b) = ([0u8; 4], [0u8; 5]);
        let mut iov = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)];
        assert_eq!(
            vmsplice_read(&r, &mut iov, SpliceFlags::empty()).unwrap(),
            9
        );
        assert_eq!((&a, &b), (b"abcd", b"efghi"));
        let mut c = [0u8; 4];
        let err = vmsplice_read(&w, &mut [IoSliceMut::new(&mut c)], SpliceFlags::empty());
        assert_eq!(err.unwrap_err().raw_os_error(), Some(libc::EBADF));
        let err = vmsplice_read(&r, &mut [IoSliceMut::new(&mut c)], SpliceFlags::NONBLOCK);
        assert_eq!(err.unwrap_err().raw_os_error(), Some(libc::EAGAIN));
    }
}
