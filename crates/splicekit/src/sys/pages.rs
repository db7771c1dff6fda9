//! Page-aligned anonymous memory for `vmsplice(2)`: [`PageBuf`] (ours, writable) and
//! [`FrozenPages`] (immutable for the rest of its life, so any pipe may reference it).
//!
//! The memory comes straight from `mmap(2)`, never from the allocator, for two reasons: a
//! page handed to a pipe must never be reused by an unrelated allocation while the pipe
//! still references it (kernel-facts V17: `munmap` leaves the page pinned by the pipe, and the
//! kernel gives the next mapping *other* pages), and the pages must be whole and aligned so
//! `SPLICE_F_GIFT` and huge pages apply. Every mapping is `MADV_DONTFORK`: a child process
//! never shares a page that a pipe may still reference.

use std::io;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::Arc;

use rustix::mm::{Advice, MapFlags, ProtFlags};

use super::errno;

/// The size of the pages behind a [`PageBuf`].
///
/// ```
/// use splicekit::{PageBuf, PageSize};
/// assert_eq!(PageSize::Huge.bytes(), 2 << 20);
/// let b = PageBuf::new(1, PageSize::Huge)?; // one whole huge page, 2 MiB-aligned
/// assert_eq!((b.capacity(), b.as_ptr() as usize % (2 << 20)), (2 << 20, 0));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PageSize {
    /// Base pages of 4 KiB.
    #[default]
    Base,
    /// Transparent huge pages of 2 MiB: the buffer is 2 MiB-aligned, a whole number of 2 MiB
    /// pages, and marked `MADV_HUGEPAGE` (THP in `madvise` mode honours it). The kernel may
    /// still back it with base pages when no huge page is free, or when it refuses the advice
    /// (no THP); the data is the same.
    Huge,
}

impl PageSize {
    /// The page size in bytes: 4096 or 2 MiB.
    pub const fn bytes(self) -> usize {
        match self {
            PageSize::Base => 4096,
            PageSize::Huge => 2 << 20,
        }
    }
}

/// One anonymous private mapping, unmapped on drop.
#[derive(Debug)]
struct Mapping {
    ptr: NonNull<u8>,
    cap: usize,
    size: PageSize,
}

// SAFETY: `Mapping` owns its pages exclusively (like a `Box<[u8]>`); the raw pointer is not
// shared with anything that is not `Send`.
unsafe impl Send for Mapping {}
// SAFETY: shared access only hands out `&[u8]`, which is `Sync`.
unsafe impl Sync for Mapping {}

impl Mapping {
    fn new(len: usize, size: PageSize) -> io::Result<Mapping> {
        let page = size.bytes();
        let cap = len
            .max(1)
            .checked_next_multiple_of(page)
            .filter(|&c| c <= isize::MAX as usize - page)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))?;
        // Huge pages need a 2 MiB-aligned start: map one page more and trim both ends.
        let slack = if size == PageSize::Huge { page } else { 0 };
        // SAFETY: a fresh anonymous mapping at an address the kernel picks; it aliases nothing.
        let raw = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                cap + slack,
                ProtFlags::READ | ProtFlags::WRITE,
                // Base pages are faulted in by the call (one system call instead of a fault per
                // 4 KiB page); huge pages take one fault per 2 MiB anyway, after MADV_HUGEPAGE.
                if size == PageSize::Base {
                    MapFlags::PRIVATE | MapFlags::POPULATE
                } else {
                    MapFlags::PRIVATE
                },
            )
        }
        .map_err(errno)?;
        let base = raw as usize;
        let start = base.next_multiple_of(page);
        let (head, tail) = (start - base, base + cap + slack - (start + cap));
        // SAFETY: `[base, start)` and `[start + cap, base + cap + slack)` lie inside the mapping
        // just created and are not part of the range kept; nothing refers to them.
        unsafe {
            if head > 0 {
                rustix::mm::munmap(raw, head).map_err(errno)?;
            }
            if tail > 0 {
                rustix::mm::munmap((start + cap) as *mut _, tail).map_err(errno)?;
            }
        }
        let m = Mapping {
            ptr: NonNull::new(start as *mut u8).expect("mmap never returns null on success"),
            cap,
            size,
        };
        // Both advices are optional: a kernel built without THP (or booted with
        // `transparent_hugepage=never`, or under a seccomp profile) refuses them with EINVAL or
        // EPERM, and the buffer then works with base pages — the bytes are the same.
        let _ = m.advise(Advice::LinuxDontFork);
        if size == PageSize::Huge {
            let _ = m.advise(Advice::LinuxHugepage);
        }
        Ok(m)
    }

    fn advise(&self, advice: Advice) -> io::Result<()> {
        // SAFETY: the range is exactly this mapping; the advices used here (DONTFORK,
        // HUGEPAGE, DONTNEED) change no byte that a live reference could observe: DONTNEED is
        // only called with `&mut self` access (see `PageBuf::renew`).
        unsafe { rustix::mm::madvise(self.ptr.as_ptr().cast(), self.cap, advice) }.map_err(errno)
    }
}

impl Mapping {
    /// Faults fresh base pages in with one call (`MADV_POPULATE_WRITE`, Linux 5.14) rather
    /// than one fault per page on first touch; a kernel without it leaves them to be faulted
    /// on touch, which is only slower.
    fn prefault(&self) {
        if self.size == PageSize::Base {
            let _ = self.advise(Advice::LinuxPopulateWrite);
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and no reference into it outlives `self`. A pipe that
        // still references these pages keeps them pinned; they are not reused (kernel-facts V17).
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.cap) };
    }
}

/// Page-aligned memory of whole pages that nothing but its owner can reach: the unit the safe
/// `vmsplice` writer takes *by value*.
///
/// Dereferences to `[u8]` (its length, at most [`capacity`](Self::capacity)) while it is
/// ours. Handing it to a writer moves it, so safe code cannot touch a page a pipe may still
/// reference; the writer gives memory back only as fresh pages (see
/// [`renew`](Self::renew)). New buffers are zero-filled.
///
/// ```
/// use splicekit::{PageBuf, PageSize};
/// let mut b = PageBuf::new(10_000, PageSize::Base)?;
/// assert_eq!(b.capacity(), 12_288);
/// assert_eq!(b.as_ptr() as usize % 4096, 0);
/// b[..5].copy_from_slice(b"hello");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct PageBuf {
    map: Mapping,
    len: usize,
}

impl PageBuf {
    /// Maps at least `len` bytes (at least one page) rounded up to whole pages of `size`;
    /// the buffer's length is its whole capacity.
    ///
    /// # Errors
    /// `mmap(2)`'s error, never a panic: `ENOMEM` when the address space, the memory or
    /// `RLIMIT_AS` is exhausted, and for a `len` too large to round up to whole pages.
    pub fn new(len: usize, size: PageSize) -> io::Result<PageBuf> {
        let map = Mapping::new(len, size)?;
        Ok(PageBuf { len: map.cap, map })
    }

    /// The bytes mapped: a whole number of pages.
    pub fn capacity(&self) -> usize {
        self.map.cap
    }

    /// The page size this buffer was made with.
    pub fn page_size(&self) -> PageSize {
        self.map.size
    }

    /// Shortens the visible length to `len` (no effect if `len` is larger); the pages stay.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Makes the whole capacity visible again.
    pub fn reset_len(&mut self) {
        self.len = self.map.cap;
    }

    /// Drops the current pages from this buffer and gives it fresh zero-filled ones at the
    /// same address (`MADV_DONTNEED`), at full length. Any pipe that references the old pages
    /// keeps them, unchanged: they are no longer reachable from this process.
    ///
    /// ```
    /// use splicekit::{PageBuf, PageSize};
    /// let mut b = PageBuf::new(4096, PageSize::Base)?;
    /// b.fill(1);
    /// b.truncate(10);
    /// b.renew()?;
    /// assert_eq!(b.len(), 4096);
    /// assert!(b.iter().all(|&x| x == 0));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// `madvise(2)`'s error (`EINVAL`, `EPERM` where a seccomp profile forbids it); the
    /// buffer then keeps its old pages and length.
    pub fn renew(&mut self) -> io::Result<()> {
        self.map.advise(Advice::LinuxDontNeed)?;
        self.map.prefault();
        self.len = self.map.cap;
        Ok(())
    }

    /// Seals the buffer: from now on nobody can change its bytes, so any number of pipes may
    /// reference them for as long as they like. Costs no system call.
    pub fn freeze(self) -> FrozenPages {
        FrozenPages {
            map: Arc::new(self.map),
            len: self.len,
        }
    }
}

impl Deref for PageBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` is valid for `cap >= len` bytes of initialised (zero-filled by the
        // kernel, then written through `&mut`) memory owned by `self`.
        unsafe { std::slice::from_raw_parts(self.map.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for PageBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` proves no other reference into the mapping
        // exists: a `PageBuf` is never given to a pipe while it is a `PageBuf`.
        unsafe { std::slice::from_raw_parts_mut(self.map.ptr.as_ptr(), self.len) }
    }
}

/// Immutable page-aligned memory: a frozen [`PageBuf`]. Cheap to clone (shared).
///
/// Because no one can write these bytes again, pipes may reference them any number of times
/// (`vmsplice` the same pages over and over, the fastest way to produce repeated content).
/// When the last clone drops, the mapping goes; pipes that still reference pages keep them.
/// [`into_buf`](Self::into_buf) turns the last clone back into a writable [`PageBuf`] with
/// fresh pages.
///
/// ```
/// use splicekit::{PageBuf, PageSize};
/// let mut b = PageBuf::new(4096, PageSize::Base)?;
/// b.fill(b'z');
/// let frozen = b.freeze(); // `b` is gone: nobody can write these bytes any more
/// let again = frozen.clone(); // shares the same pages
/// assert_eq!(&again[..2], b"zz");
/// assert!(frozen.into_buf().is_err()); // `again` still reads them
/// let b = again.into_buf().unwrap(); // the last clone: writable, fresh zero pages
/// assert!(b.iter().all(|&x| x == 0));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct FrozenPages {
    map: Arc<Mapping>,
    len: usize,
}

impl FrozenPages {
    /// The page size this memory was made with.
    pub fn page_size(&self) -> PageSize {
        self.map.size
    }

    /// Makes this memory writable again, if this is the only clone: its pages are replaced by
    /// fresh zero-filled ones first (`MADV_DONTNEED`), so a pipe that references the old ones
    /// is unaffected by anything written later.
    ///
    /// # Errors
    /// Returns `self` unchanged if other clones exist, or if the kernel refuses the advice
    /// (then the old pages are still mapped and nothing writable may be handed out).
    pub fn into_buf(self) -> Result<PageBuf, FrozenPages> {
        let len = self.len;
        match Arc::try_unwrap(self.map) {
            Ok(map) => {
                if map.advise(Advice::LinuxDontNeed).is_err() {
                    // The old pages are still mapped: hand nothing writable back.
                    return Err(FrozenPages {
                        map: Arc::new(map),
                        len,
                    });
                }
                map.prefault();
                Ok(PageBuf { len: map.cap, map })
            }
            Err(map) => Err(FrozenPages { map, len }),
        }
    }
}

impl FrozenPages {
    /// Turns the last clone back into a writable buffer *without* renewing its pages, or
    /// returns `None` if other clones exist. Only for pages that no pipe has ever been given
    /// (a non-blocking send that queued none of them): crate-internal for that reason.
    pub(crate) fn into_buf_unsent(self) -> Option<PageBuf> {
        let len = self.len;
        Arc::try_unwrap(self.map)
            .ok()
            .map(|map| PageBuf { map, len })
    }

    /// A view of `range` of these bytes, for [`vmsplice_frozen`](super::vmsplice_frozen).
    /// Returns `None` if the range is out of bounds.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Option<Frozen<'_>> {
        self.get(range).map(Frozen)
    }

    /// The whole of these bytes, for [`vmsplice_frozen`](super::vmsplice_frozen).
    pub fn all(&self) -> Frozen<'_> {
        Frozen(self)
    }
}

/// Bytes known to lie in [`FrozenPages`]: memory nobody can modify, so a pipe may reference
/// it safely. Made by [`FrozenPages::slice`] and [`FrozenPages::all`].
#[derive(Debug, Clone, Copy)]
pub struct Frozen<'a>(&'a [u8]);

impl<'a> Frozen<'a> {
    /// The bytes.
    pub fn bytes(self) -> &'a [u8] {
        self.0
    }
}

impl Deref for FrozenPages {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` is valid for `len` initialised bytes for as long as the `Arc` lives, and
        // no `&mut` to them can exist any more (`PageBuf` was consumed by `freeze`).
        unsafe { std::slice::from_raw_parts(self.map.ptr.as_ptr(), self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_up_to_whole_aligned_pages() {
        for (len, size, cap) in [
            (0, PageSize::Base, 4096),
            (1, PageSize::Base, 4096),
            (4097, PageSize::Base, 8192),
            (1, PageSize::Huge, 2 << 20),
            ((2 << 20) + 1, PageSize::Huge, 4 << 20),
        ] {
            let b = PageBuf::new(len, size).unwrap();
            assert_eq!((b.capacity(), b.len()), (cap, cap));
            assert_eq!(b.as_ptr() as usize % size.bytes(), 0);
            assert!(b.iter().all(|&x| x == 0));
        }
    }

    #[test]
    fn impossible_sizes_are_errors_not_panics() {
        let e = PageBuf::new(usize::MAX, PageSize::Base).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOMEM));
        let e = PageBuf::new(1 << 62, PageSize::Huge).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOMEM));
    }

    #[test]
    fn renew_gives_zero_pages_and_into_buf_needs_the_last_clone() {
        let mut b = PageBuf::new(8192, PageSize::Base).unwrap();
        b.fill(7);
        b.truncate(100);
        b.renew().unwrap();
        assert_eq!(b.len(), 8192);
        assert!(b.iter().all(|&x| x == 0));
        b.fill(9);
        let f = b.freeze();
        let g = f.clone();
        let f = f.into_buf().unwrap_err();
        assert!(f.iter().all(|&x| x == 9));
        drop(g);
        let b = f.into_buf().unwrap();
        assert!(b.iter().all(|&x| x == 0));
    }
}
