//! Safe `vmsplice(2)`: a writer that moves [`PageBuf`]s into a pipe by reference, and the read
//! direction that fills user memory from a pipe.
//!
//! The hazard (kernel-facts V14–V18): a pipe holds *references* to vmspliced pages, so
//! memory modified after the call changes what the reader sees, even after the bytes were
//! spliced on to another pipe. The writer makes that impossible in safe code:
//!
//! * it takes [`PageBuf`]s **by value** and seals them ([`PageBuf::freeze`]) before the call,
//!   so nothing can write them while any pipe may reference them;
//! * it gives memory back only as *fresh* pages: in [`Release::Gift`] mode a sent buffer is
//!   unmapped, in [`Release::Recycle`] mode its pages are dropped (`MADV_DONTNEED`) and the
//!   same address range is handed out again backed by new zero pages;
//! * [`FrozenPages`] (immutable forever) may be sent any number of times — the fastest way to
//!   produce repeated content.
//!
//! The `unsafe` alternative for callers whose reader is known to copy is [`crate::sys::vmsplice`].
//!
//! ```
//! use std::io::Read;
//! use splicekit::{Pipe, PageSize, VmspliceWriter};
//! let (r, w) = Pipe::new()?.into_ends();
//! let mut r = std::fs::File::from(r);
//! let mut w = VmspliceWriter::new(w)?;
//! let mut page = w.page(PageSize::Base)?;
//! page[..6].copy_from_slice(b"hello\n");
//! page.truncate(6);
//! w.send(page)?; // `page` is gone: it cannot be modified while the pipe holds it
//! drop(w);
//! let mut got = String::new();
//! r.read_to_string(&mut got)?;
//! assert_eq!(got, "hello\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, IoSliceMut};
use std::ops::Range;
use std::os::fd::AsFd;

use crate::error::{Error, Op, Result, Side};
use crate::kind::{FdInfo, FdKind};
use crate::ready::{wait_ready, Ready};
use crate::sys::{self, Frozen, FrozenPages, PageBuf, PageSize, SpliceFlags, IOV_MAX};

/// What happens to a [`PageBuf`] once every byte of it is queued in the pipe.
///
/// ```
/// use splicekit::{PageSize, Pipe, Release, VmspliceWriter};
/// let (r, w) = Pipe::new()?.into_ends();
/// let mut w = VmspliceWriter::new(w)?.release(Release::Recycle);
/// let mut page = w.page(PageSize::Base)?;
/// let addr = page.as_ptr();
/// page.truncate(4096);
/// page.fill(b'a');
/// w.send(page)?;
/// // The same address again, backed by fresh zero pages; the pipe keeps the old ones.
/// let page = w.page(PageSize::Base)?;
/// assert_eq!((page.as_ptr(), page[0]), (addr, 0));
/// let mut got = [0; 4096];
/// splicekit::sys::read(&r, &mut got, None)?;
/// assert!(got.iter().all(|&b| b == b'a'));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Release {
    /// Sent with `SPLICE_F_GIFT` and unmapped: the pages leave this process. Where the kernel
    /// refuses the flag (`EOPNOTSUPP`, kernel-facts F13) the writer sends without it, once, and
    /// unmaps all the same.
    #[default]
    Gift,
    /// Its pages are dropped (`MADV_DONTNEED`) and the buffer, now backed by fresh zero pages at
    /// the same address, is kept for [`VmspliceWriter::page`]. Saves `mmap`/`munmap` and
    /// keeps huge-page alignment; the pipe's references still point at the old pages.
    Recycle,
}

/// The error of [`VmspliceWriter::try_send`]: the pipe was full, or the call failed.
pub enum TrySendError {
    /// The pipe had no room for any of it (`EAGAIN`); the buffer comes back untouched.
    WouldBlock(PageBuf),
    /// The call failed; the buffer is dropped (its bytes may be partly queued, see
    /// [`Error::bytes_moved`]).
    Failed(Error),
}

impl fmt::Debug for TrySendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::WouldBlock(p) => write!(f, "WouldBlock({} bytes)", p.len()),
            TrySendError::Failed(e) => write!(f, "Failed({e:?})"),
        }
    }
}

impl fmt::Display for TrySendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::WouldBlock(_) => f.write_str("vmsplice(memory -> pipe): pipe is full"),
            TrySendError::Failed(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for TrySendError {}

impl From<TrySendError> for io::Error {
    fn from(e: TrySendError) -> io::Error {
        match e {
            TrySendError::WouldBlock(_) => io::ErrorKind::WouldBlock.into(),
            TrySendError::Failed(e) => e.into(),
        }
    }
}

/// One queued piece: frozen bytes `[start, end)`, and whether the writer owns them (a sent
/// `PageBuf`, released when done) or they are a caller's shared [`FrozenPages`].
struct Item {
    pages: FrozenPages,
    start: usize,
    end: usize,
    owned: bool,
}

/// At most this many recycled buffers are kept for [`VmspliceWriter::page`].
const SPARE_MAX: usize = 4;

/// Moves page buffers into a pipe with `vmsplice(2)`, by reference, safely.
///
/// Blocking calls ([`send`](Self::send), [`send_frozen`](Self::send_frozen),
/// [`flush`](Self::flush)) return once every byte is queued, looping over partial transfers,
/// `EINTR` and, on an `O_NONBLOCK` pipe, `EAGAIN` (by waiting in `poll`). Non-blocking calls
/// ([`try_send`](Self::try_send), [`try_flush`](Self::try_flush)) use `SPLICE_F_NONBLOCK`
/// and report a full pipe as [`TrySendError::WouldBlock`] / [`io::ErrorKind::WouldBlock`],
/// never losing a buffer. Up to [`IOV_MAX`] queued buffers go in one call.
///
/// It also implements [`io::Write`] for callers holding plain slices: that path *copies* the
/// bytes into a staging page and sends it when full (or on `flush`).
///
/// Dropping the writer flushes what it holds, ignoring errors; call [`flush`](Self::flush)
/// to see them.
///
/// ```
/// use std::io::{Read, Write};
/// use splicekit::{PageBuf, PageSize, Pipe, VmspliceWriter};
/// let (r, w) = Pipe::new()?.into_ends();
/// let reader = std::thread::spawn(move || {
///     let mut got = Vec::new();
///     std::fs::File::from(r).read_to_end(&mut got).map(|_| got)
/// });
/// let mut w = VmspliceWriter::new(w)?;
/// // Repeated content: frozen once, sent by reference as often as wanted.
/// let mut dots = PageBuf::new(4096, PageSize::Base)?;
/// dots.fill(b'.');
/// let dots = dots.freeze();
/// for _ in 0..100 {
///     w.send_frozen(&dots, 0..4096)?;
/// }
/// // Plain slices: copied into a staging page, sent when full or on flush.
/// w.write_all(b"end\n")?;
/// w.flush()?;
/// assert_eq!(w.bytes_sent(), 100 * 4096 + 4);
/// drop(w);
/// let got = reader.join().unwrap()?;
/// assert_eq!(got.len(), 409_604);
/// assert!(got.ends_with(b".end\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct VmspliceWriter<P: AsFd> {
    pipe: P,
    release: Release,
    gift: bool,
    queue: VecDeque<Item>,
    spare: Vec<PageBuf>,
    staging: Option<(PageBuf, usize)>,
    staging_size: PageSize,
    sent: u64,
}

impl<P: AsFd> VmspliceWriter<P> {
    /// A writer on `pipe`, which must be the write end of a pipe; any other descriptor is
    /// refused with `EBADF` before any call (kernel-facts V1/V2), naming its kind.
    ///
    /// # Errors
    /// `EBADF` ([`Op::Vmsplice`], with the descriptor's kind as the sink) for a descriptor
    /// that is not a pipe or is a pipe's read end; `fstat(2)`'s or `fcntl(2)`'s error for a
    /// closed one.
    pub fn new(pipe: P) -> Result<Self> {
        let fd = pipe.as_fd();
        let fail = |k, e| Error::new(Op::Vmsplice, FdKind::Memory, k, Side::Output, 0, e);
        let info = FdInfo::of(fd).map_err(|e| fail(FdKind::Other, e))?;
        let mode = rustix::fs::fcntl_getfl(fd).map_err(|e| fail(info.kind, e.into()))?;
        let writable = mode & rustix::fs::OFlags::RWMODE != rustix::fs::OFlags::RDONLY;
        if info.kind != FdKind::Pipe || !writable {
            return Err(fail(info.kind, io::Error::from_raw_os_error(libc::EBADF)));
        }
        Ok(VmspliceWriter {
            pipe,
            release: Release::Gift,
            gift: true,
            queue: VecDeque::new(),
            spare: Vec::new(),
            staging: None,
            staging_size: PageSize::Base,
            sent: 0,
        })
    }

    /// Chooses what happens to sent buffers (default [`Release::Gift`]).
    pub fn release(mut self, release: Release) -> Self {
        self.release = release;
        self
    }

    /// The page size of the staging buffers used by the [`io::Write`] path (default base).
    pub fn staging_pages(mut self, size: PageSize) -> Self {
        self.staging_size = size;
        self
    }

    /// A writable buffer of at least one page of `size`: a recycled one of that page size if
    /// any (its bytes zero), else a new 1 MiB (base pages) or 2 MiB (huge pages) buffer.
    ///
    /// # Errors
    /// As [`PageBuf::new`] (`ENOMEM` when no memory can be mapped), as an [`Error`] with
    /// [`Op::Mmap`] and the pipe as the sink — the type the writer's other calls return, so
    /// one `?` serves them all:
    ///
    /// ```
    /// use splicekit::{PageSize, VmspliceWriter};
    /// fn greet(w: &mut VmspliceWriter<std::os::fd::OwnedFd>) -> splicekit::Result<()> {
    ///     let mut page = w.page(PageSize::Base)?;
    ///     page.truncate(3);
    ///     page.copy_from_slice(b"hi\n");
    ///     w.send(page)
    /// }
    /// let (r, w) = splicekit::Pipe::new()?.into_ends();
    /// greet(&mut VmspliceWriter::new(w)?)?;
    /// let mut got = [0; 3];
    /// splicekit::sys::read(&r, &mut got, None)?;
    /// assert_eq!(&got, b"hi\n");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn page(&mut self, size: PageSize) -> Result<PageBuf> {
        if let Some(i) = self.spare.iter().position(|b| b.page_size() == size) {
            return Ok(self.spare.swap_remove(i));
        }
        PageBuf::new(1 << 20, size).map_err(|e| {
            let pipe = FdKind::of(self.pipe.as_fd()).unwrap_or(FdKind::Other);
            Error::new(Op::Mmap, FdKind::Other, pipe, Side::Input, 0, e)
        })
    }

    /// Bytes queued in the pipe so far.
    pub fn bytes_sent(&self) -> u64 {
        self.sent
    }

    /// Bytes accepted but not yet queued in the pipe (after a non-blocking call).
    pub fn pending(&self) -> usize {
        self.queue.iter().map(|i| i.end - i.start).sum::<usize>()
            + self.staging.as_ref().map_or(0, |s| s.1)
    }

    /// The pipe.
    pub fn get_ref(&self) -> &P {
        &self.pipe
    }

    /// Queues `page` (its current length) in the pipe, blocking until all of it is queued.
    ///
    /// # Errors
    /// An [`Error`] with [`Op::Vmsplice`] and the bytes queued so far
    /// ([`Error::bytes_moved`], the writer's total): `EPIPE` when the pipe has no reader left
    /// (with `SIGPIPE` ignored, as Rust programs have it; what was not queued stays
    /// [`pending`](Self::pending)), `EBADF` if the descriptor was closed under the writer. `EINTR` is retried,
    /// `EAGAIN` on an `O_NONBLOCK` pipe waited out in `poll`, and `EOPNOTSUPP` for
    /// `SPLICE_F_GIFT` (kernel-facts F13) answered by sending without the flag.
    pub fn send(&mut self, page: PageBuf) -> Result<()> {
        self.send_all(std::iter::once(page))
    }

    /// Queues several buffers, vectored (up to [`IOV_MAX`] per call), blocking until all of
    /// them are queued.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn send_all<I: IntoIterator<Item = PageBuf>>(&mut self, pages: I) -> Result<()> {
        self.flush_staging(true)?;
        for p in pages {
            self.push_owned(p);
        }
        self.drive(true)
    }

    /// Queues `range` of shared immutable pages, blocking until all of it is queued. The same
    /// pages may be sent again and again: no one can change them. A range outside the pages is
    /// refused with `InvalidInput`.
    ///
    /// # Errors
    /// As [`send`](Self::send), and `InvalidInput` (nothing queued) for a range outside the
    /// pages.
    pub fn send_frozen(&mut self, pages: &FrozenPages, range: Range<usize>) -> Result<()> {
        self.flush_staging(true)?;
        self.push_frozen(pages, range)?;
        self.drive(true)
    }

    /// Queues `range` of shared immutable pages without blocking: `WouldBlock` (and nothing
    /// queued) if earlier bytes are still pending and cannot go now or the pipe takes none of
    /// it; if the pipe takes part, the rest stays pending and goes first on the next call.
    ///
    /// # Errors
    /// An [`Error`] whose [`io_error`](Error::io_error) has kind
    /// [`WouldBlock`](io::ErrorKind::WouldBlock) when nothing of `range` could be queued
    /// (try again once the pipe is writable); `InvalidInput` for a range outside the pages;
    /// otherwise as [`send`](Self::send) (`EPIPE`, `EBADF`).
    pub fn try_send_frozen(&mut self, pages: &FrozenPages, range: Range<usize>) -> Result<()> {
        self.try_flush()?;
        self.push_frozen(pages, range)?;
        let before = self.sent;
        match self.drive(false) {
            Err(e) if e.io_error().kind() == io::ErrorKind::WouldBlock && self.sent == before => {
                self.queue.pop_back();
                Err(e)
            }
            Err(e) if e.io_error().kind() == io::ErrorKind::WouldBlock => Ok(()),
            r => r,
        }
    }

    fn push_frozen(&mut self, pages: &FrozenPages, range: Range<usize>) -> Result<()> {
        if range.start > range.end || range.end > pages.len() {
            let e = io::Error::new(io::ErrorKind::InvalidInput, "range outside the pages");
            return Err(self.error(e));
        }
        if range.start < range.end {
            self.queue.push_back(Item {
                pages: pages.clone(),
                start: range.start,
                end: range.end,
                owned: false,
            });
        }
        Ok(())
    }

    /// Queues `page` without blocking (`SPLICE_F_NONBLOCK`). If earlier bytes are still
    /// pending and cannot go now, or the pipe takes none of `page`, the buffer comes back in
    /// [`TrySendError::WouldBlock`]. If the pipe takes part of it, the rest stays with the
    /// writer (see [`pending`](Self::pending)) and goes first on the next call.
    ///
    /// # Errors
    /// [`TrySendError::WouldBlock`] with the untouched buffer when none of it could be queued;
    /// [`TrySendError::Failed`] for the errors of [`send`](Self::send) (`EPIPE`, `EBADF`),
    /// after which the buffer is gone.
    pub fn try_send(&mut self, page: PageBuf) -> std::result::Result<(), TrySendError> {
        match self.try_flush() {
            Ok(()) => {}
            Err(e) if e.io_error().kind() == io::ErrorKind::WouldBlock => {
                return Err(TrySendError::WouldBlock(page))
            }
            Err(e) => return Err(TrySendError::Failed(e)),
        }
        let len = page.len();
        self.push_owned(page);
        match self.drive(false) {
            Ok(()) => Ok(()),
            Err(e) if e.io_error().kind() == io::ErrorKind::WouldBlock => {
                let Some(item) = self.queue.pop_back() else {
                    return Ok(());
                };
                if item.end - item.start < len {
                    self.queue.push_back(item); // partly queued: keep the rest
                    return Ok(());
                }
                // None of it was queued, so no pipe references these pages.
                match item.pages.into_buf_unsent() {
                    Some(page) => Err(TrySendError::WouldBlock(page)),
                    None => Err(TrySendError::Failed(e)),
                }
            }
            Err(e) => Err(TrySendError::Failed(e)),
        }
    }

    /// Queues everything pending without blocking.
    ///
    /// # Errors
    /// Kind [`WouldBlock`](io::ErrorKind::WouldBlock) when the pipe fills before everything
    /// is queued (what is left stays pending); otherwise as [`send`](Self::send).
    pub fn try_flush(&mut self) -> Result<()> {
        self.flush_staging(false)?;
        self.drive(false)
    }

    /// Queues everything pending, blocking as needed.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn flush(&mut self) -> Result<()> {
        self.flush_staging(true)?;
        self.drive(true)
    }

    fn push_owned(&mut self, page: PageBuf) {
        if page.is_empty() {
            return self.retire(page.freeze());
        }
        let end = page.len();
        self.queue.push_back(Item {
            pages: page.freeze(),
            start: 0,
            end,
            owned: true,
        });
    }

    fn error(&self, e: io::Error) -> Error {
        Error::new(
            Op::Vmsplice,
            FdKind::Memory,
            FdKind::Pipe,
            Side::Output,
            self.sent,
            e,
        )
    }

    /// Sends the queue. Each call takes a run of items of one ownership (so `SPLICE_F_GIFT`
    /// is passed only for buffers the writer owns), at most [`IOV_MAX`] of them.
    fn drive(&mut self, block: bool) -> Result<()> {
        while let Some(first) = self.queue.front() {
            let owned = first.owned;
            let segs: Vec<Frozen<'_>> = self
                .queue
                .iter()
                .take(IOV_MAX)
                .take_while(|i| i.owned == owned)
                .filter_map(|i| i.pages.slice(i.start..i.end))
                .collect();
            let mut flags = SpliceFlags::empty();
            // vmsplice(2) asks for page-aligned, whole-page ranges with SPLICE_F_GIFT (EINVAL
            // otherwise, per the man page; this kernel accepts both, kernel-facts V7/V8): the flag
            // goes only with whole pages the writer owns. It is a hint; the data is the same.
            let whole_pages = segs
                .iter()
                .all(|s| s.bytes().as_ptr() as usize % 4096 == 0 && s.bytes().len() % 4096 == 0);
            if owned && whole_pages && self.gift && self.release == Release::Gift {
                flags |= SpliceFlags::GIFT;
            }
            if !block {
                flags |= SpliceFlags::NONBLOCK;
            }
            match sys::vmsplice_frozen(self.pipe.as_fd(), &segs, flags) {
                Ok(n) => self.advance(n),
                Err(e) => match e.raw_os_error() {
                    Some(libc::EINTR) => {}
                    // The kernel's "would block" on a full pipe: wait for room when blocking.
                    Some(libc::EAGAIN) if block => {
                        wait_ready(self.pipe.as_fd(), Ready::Write).map_err(|e| self.error(e))?
                    }
                    // Kernels that retired SPLICE_F_GIFT say EOPNOTSUPP (kernel-facts F13); the flag
                    // is only an optimisation, so send without it from now on.
                    Some(libc::EOPNOTSUPP) if flags.contains(SpliceFlags::GIFT) => {
                        self.gift = false
                    }
                    _ => return Err(self.error(e)),
                },
            }
        }
        Ok(())
    }

    /// Accounts `n` bytes queued by the kernel, retiring the items it completed.
    fn advance(&mut self, mut n: usize) {
        self.sent += n as u64;
        while n > 0 {
            let Some(item) = self.queue.front_mut() else {
                return;
            };
            let take = n.min(item.end - item.start);
            item.start += take;
            n -= take;
            if item.start == item.end {
                if let Some(done) = self.queue.pop_front() {
                    if done.owned {
                        self.retire(done.pages);
                    }
                }
            }
        }
    }

    fn retire(&mut self, pages: FrozenPages) {
        if self.release == Release::Recycle && self.spare.len() < SPARE_MAX {
            if let Ok(b) = pages.into_buf() {
                self.spare.push(b);
            }
        }
        // Otherwise dropping `pages` unmaps them; the pipe keeps its references.
    }

    fn flush_staging(&mut self, block: bool) -> Result<()> {
        let Some((mut page, used)) = self.staging.take() else {
            return Ok(());
        };
        if used == 0 {
            self.staging = Some((page, 0));
            return Ok(());
        }
        page.truncate(used);
        self.push_owned(page);
        self.drive(block)
    }
}

impl<P: AsFd> io::Write for VmspliceWriter<P> {
    /// Copies `buf` into a staging page; a full page is sent (blocking). A copying path for
    /// plain slices — fill a [`PageBuf`] directly and [`send`](VmspliceWriter::send) it to
    /// avoid the copy.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let (mut page, used) = match self.staging.take() {
            Some(s) => s,
            None => (
                self.page(self.staging_size).map_err(Error::into_io_error)?,
                0,
            ),
        };
        let n = buf.len().min(page.len() - used);
        page[used..used + n].copy_from_slice(&buf[..n]);
        let full = used + n == page.len();
        self.staging = Some((page, used + n));
        if full {
            self.flush_staging(true)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        VmspliceWriter::flush(self).map_err(io::Error::from)
    }
}

impl<P: AsFd> Drop for VmspliceWriter<P> {
    fn drop(&mut self) {
        let _ = VmspliceWriter::flush(self);
    }
}

/// Fills `buf` from the read end of a pipe with `vmsplice(2)` (a copy into user memory),
/// looping until it is full or the pipe reaches end of input; returns the bytes copied.
/// `EINTR` is retried. The descriptor must be open read-only (see [`sys::vmsplice_read`]);
/// anything else is refused with `EBADF` before any call.
///
/// ```
/// use splicekit::Pipe;
/// let p = Pipe::new()?;
/// splicekit::sys::write(p.writer(), b"0123456789", None)?;
/// let (r, w) = p.into_ends();
/// drop(w); // end of input after these bytes
/// let mut buf = [0; 16];
/// assert_eq!(splicekit::vmsplice::read_full(&r, &mut buf)?, 10);
/// assert_eq!(&buf[..10], b"0123456789");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// An [`Error`] ([`Op::Vmsplice`], [`Side::Input`]) with the bytes copied so far: `EBADF`
/// for a descriptor open for writing, a closed one or one that is not a pipe. `EINTR` is
/// retried.
pub fn read_full<P: AsFd>(pipe: P, buf: &mut [u8]) -> Result<usize> {
    let fd = pipe.as_fd();
    let mut done = 0;
    while done < buf.len() {
        let mut iov = [IoSliceMut::new(&mut buf[done..])];
        match sys::vmsplice_read(fd, &mut iov, SpliceFlags::empty()) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e) => {
                let kind = FdKind::of(fd).unwrap_or(FdKind::Other);
                return Err(Error::new(
                    Op::Vmsplice,
                    kind,
                    FdKind::Memory,
                    Side::Input,
                    done as u64,
                    e,
                ));
            }
        }
    }
    Ok(done)
}
