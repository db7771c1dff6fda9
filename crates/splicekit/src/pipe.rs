//! [`Pipe`]: a pipe with owned ends and a known capacity; [`PipePool`]: reused broker pipes.

use std::io;
use std::ops::{Deref, DerefMut};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Mutex, OnceLock};

use crate::sys::{self, PipeFlags};

/// The capacity the engine asks for its broker pipes: 1 MiB, the default
/// `/proc/sys/fs/pipe-max-size`, the most an unprivileged process may ask for (kernel-facts
/// F27).
pub const DEFAULT_PIPE_SIZE: usize = 1 << 20;

/// Grows a pipe someone else made (a caller's stdin or stdout) to `size` bytes, but only
/// while it has the kernel's default capacity (16 pages): a pipe whose size its owner chose —
/// a 4096-byte pipe set up to keep latency low, or a larger one — is left as it is, and no
/// pipe is ever shrunk. The new size outlives this process (it belongs to the pipe), which is
/// why only default-sized pipes are touched. Returns the capacity afterwards; a refused
/// resize (`EPERM` above `pipe-max-size`, the per-user quota) leaves the pipe as it was.
/// Returns `None`, with nothing changed, when `pipe`'s capacity cannot be read (it is not a
/// pipe, or is closed): there is no error to report, only nothing to grow.
///
/// ```
/// let (r, w) = splicekit::sys::pipe(splicekit::sys::PipeFlags::CLOEXEC)?;
/// splicekit::sys::set_pipe_capacity(&w, 4096)?;
/// assert_eq!(splicekit::grow_default(&w, 1 << 20), Some(4096));
/// # drop(r); Ok::<(), std::io::Error>(())
/// ```
pub fn grow_default<P: AsFd>(pipe: P, size: usize) -> Option<usize> {
    let fd = pipe.as_fd();
    let cap = sys::pipe_capacity(fd).ok()?;
    let default = 16 * rustix::param::page_size();
    if cap != default || size <= cap {
        return Some(cap);
    }
    Some(sys::set_pipe_capacity(fd, size).unwrap_or(cap))
}

/// A pipe with both ends owned: bytes written to [`Pipe::writer`] are read from
/// [`Pipe::reader`].
///
/// ```
/// use splicekit::Pipe;
/// let p = Pipe::with_capacity(256 << 10)?; // the kernel may grant less
/// assert!(p.capacity() >= 64 << 10);
/// splicekit::sys::write(p.writer(), b"queued", None)?;
/// assert_eq!(p.queued()?, 6);
/// let (reader, writer) = p.into_ends(); // `OwnedFd`s, e.g. for `std::fs::File::from`
/// # drop((reader, writer)); Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Pipe {
    reader: OwnedFd,
    writer: OwnedFd,
    capacity: usize,
    /// The largest capacity asked for; the kernel may have granted less.
    asked: usize,
}

impl Pipe {
    /// Creates a close-on-exec pipe with the kernel's default capacity (64 KiB).
    ///
    /// # Errors
    /// As [`sys::pipe`]: `EMFILE`/`ENFILE` when out of descriptors or over the per-user pipe
    /// quota.
    pub fn new() -> io::Result<Self> {
        Self::with_flags(PipeFlags::CLOEXEC)
    }

    /// Creates a pipe with the given `pipe2` flags.
    ///
    /// # Errors
    /// As [`sys::pipe`] (`EMFILE`, `ENFILE`, `EINVAL` for flags `pipe2` does not know).
    pub fn with_flags(flags: PipeFlags) -> io::Result<Self> {
        let (reader, writer) = sys::pipe(flags)?;
        let capacity = sys::pipe_capacity(&reader)?;
        Ok(Pipe {
            reader,
            writer,
            capacity,
            asked: capacity,
        })
    }

    /// Creates a close-on-exec pipe and asks for `size` bytes of capacity.
    ///
    /// A refused resize (`EPERM` above `pipe-max-size`, or the per-user pipe quota) is not an
    /// error: the pipe keeps the capacity the kernel gave it, which [`Pipe::capacity`] reports.
    ///
    /// # Errors
    /// Only creating the pipe can fail, as in [`Pipe::new`].
    pub fn with_capacity(size: usize) -> io::Result<Self> {
        let mut p = Self::new()?;
        p.try_resize(size);
        Ok(p)
    }

    /// Asks for `size` bytes of capacity; returns the capacity the pipe has afterwards.
    pub fn try_resize(&mut self, size: usize) -> usize {
        self.asked = self.asked.max(size);
        if size > self.capacity {
            if let Ok(c) = sys::set_pipe_capacity(&self.writer, size) {
                self.capacity = c;
            }
        }
        self.capacity
    }

    /// Sets the capacity (`F_SETPIPE_SZ`), returning the capacity granted.
    ///
    /// # Errors
    /// As [`sys::set_pipe_capacity`]: `EPERM` above `pipe-max-size` without privilege or
    /// over the per-user quota, `EBUSY` below the bytes queued. The pipe keeps its old size.
    pub fn set_capacity(&mut self, size: usize) -> io::Result<usize> {
        self.capacity = sys::set_pipe_capacity(&self.writer, size)?;
        Ok(self.capacity)
    }

    /// The capacity in bytes, as last read from or granted by the kernel.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The read end.
    pub fn reader(&self) -> BorrowedFd<'_> {
        self.reader.as_fd()
    }

    /// The write end.
    pub fn writer(&self) -> BorrowedFd<'_> {
        self.writer.as_fd()
    }

    /// Bytes queued in the pipe (`FIONREAD`).
    ///
    /// # Errors
    /// `ioctl(FIONREAD)`'s error; with both ends owned here it does not fail in practice.
    pub fn queued(&self) -> io::Result<u64> {
        sys::readable_bytes(&self.reader)
    }

    /// Splits the pipe into its `(reader, writer)` ends.
    pub fn into_ends(self) -> (OwnedFd, OwnedFd) {
        (self.reader, self.writer)
    }
}

/// A bounded pool of broker pipes, so a program copying many streams does not pay `pipe2` and
/// `F_SETPIPE_SZ` for each.
///
/// A pipe goes back to the pool only when it is empty (checked with `FIONREAD` when the
/// [`PooledPipe`] is dropped) and not marked dirty, so a pipe taken from the pool never holds a
/// stale byte. At most `max_idle` pipes are kept; the rest are closed.
///
/// ```
/// use splicekit::PipePool;
/// static POOL: PipePool = PipePool::new(4);
/// {
///     let pipe = POOL.take(1 << 20)?; // a `PooledPipe`: derefs to `Pipe`
///     splicekit::sys::write(pipe.writer(), b"x", None)?;
///     let mut b = [0];
///     splicekit::sys::read(pipe.reader(), &mut b, None)?;
/// } // empty again: back to the pool
/// assert_eq!(POOL.idle(), 1);
/// {
///     let mut pipe = POOL.take(1 << 20)?; // the same pipe, reused
///     pipe.mark_dirty(); // e.g. an error left bytes in it: closed on drop, not pooled
/// }
/// assert_eq!(POOL.idle(), 0);
/// drop((POOL.take(4096)?, POOL.take(4096)?)); // two idle pipes
/// assert_eq!(POOL.release_idle(), 2); // closed: four descriptors back, for a process short
/// assert_eq!(POOL.idle(), 0);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct PipePool {
    idle: Mutex<Vec<Pipe>>,
    max_idle: usize,
}

impl PipePool {
    /// A pool that keeps at most `max_idle` idle pipes.
    pub const fn new(max_idle: usize) -> Self {
        PipePool {
            idle: Mutex::new(Vec::new()),
            max_idle,
        }
    }

    /// The process-wide pool the copy engine uses (at most 16 idle pipes).
    pub fn global() -> &'static PipePool {
        static POOL: OnceLock<PipePool> = OnceLock::new();
        POOL.get_or_init(|| PipePool::new(16))
    }

    /// Takes an idle pipe of at least `size` bytes, or creates one (asking for `size`; the
    /// kernel may grant less, see [`Pipe::with_capacity`]).
    ///
    /// # Errors
    /// Only when no idle pipe fits and creating one fails, as in [`Pipe::new`] (`EMFILE`,
    /// `ENFILE`).
    pub fn take(&self, size: usize) -> io::Result<PooledPipe<'_>> {
        let reused = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            // A pipe the kernel sized below what was asked (pipe-max-size, the per-user quota)
            // serves the same request again rather than being replaced by an equally small one.
            let pos = idle
                .iter()
                .position(|p| p.capacity() >= size || p.asked >= size);
            pos.map(|i| idle.swap_remove(i))
        };
        let pipe = match reused {
            Some(p) => p,
            None => Pipe::with_capacity(size)?,
        };
        Ok(PooledPipe {
            pool: self,
            pipe: Some(pipe),
            dirty: false,
        })
    }

    /// The number of idle pipes held.
    pub fn idle(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Closes the idle pipes (two descriptors each), for a process short of descriptors;
    /// returns how many it closed. Pipes in use return as before.
    pub fn release_idle(&self) -> usize {
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|e| e.into_inner()));
        idle.len()
    }

    fn give_back(&self, pipe: Pipe) {
        if pipe.queued().ok() != Some(0) {
            return; // a pipe with bytes left (or that cannot be checked) is closed, never reused
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.max_idle {
            idle.push(pipe);
        }
    }
}

/// A pipe borrowed from a [`PipePool`]; it returns on drop if it is clean.
#[derive(Debug)]
pub struct PooledPipe<'a> {
    pool: &'a PipePool,
    pipe: Option<Pipe>,
    dirty: bool,
}

impl PooledPipe<'_> {
    /// Marks the pipe as not reusable: it is closed on drop instead of returning to the pool.
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }
}

impl Deref for PooledPipe<'_> {
    type Target = Pipe;
    fn deref(&self) -> &Pipe {
        self.pipe.as_ref().expect("pipe present until drop")
    }
}

impl DerefMut for PooledPipe<'_> {
    fn deref_mut(&mut self) -> &mut Pipe {
        self.pipe.as_mut().expect("pipe present until drop")
    }
}

impl Drop for PooledPipe<'_> {
    fn drop(&mut self) {
        if let Some(p) = self.pipe.take() {
            if !self.dirty {
                self.pool.give_back(p);
            }
        }
    }
}
