//! How the splice strategies make their calls: `splice(2)` from this thread, or — with
//! [`Backend::Uring`] — through the calling thread's io_uring ring, the broker's two hops as a
//! linked pair. Either way the strategy sees the same results and applies the same rules.

use std::io;
use std::os::fd::BorrowedFd;

use super::{Backend, Xfer};
use crate::pipe::Pipe;
use crate::sys::{self, SpliceFlags};

/// The calls of one strategy run. With a ring, it is the thread's ring, handed back on drop.
pub(crate) struct Calls {
    #[cfg(feature = "io-uring")]
    ring: Option<crate::sys::uring::Ring>,
}

impl Calls {
    /// Calls for `backend`: `Uring` takes the thread's ring, or runs blocking where none can be
    /// set up (no io_uring, `io_uring_disabled`, a seccomp filter, a kernel without splice on
    /// rings, or the crate built without the `io-uring` feature). Nothing has moved yet, so the
    /// choice loses no byte.
    pub fn new(backend: Backend) -> Calls {
        #[cfg(feature = "io-uring")]
        {
            let ring = (backend == Backend::Uring).then(ring::take).flatten();
            Calls { ring }
        }
        #[cfg(not(feature = "io-uring"))]
        {
            if backend == Backend::Uring {
                super::log(|| "io_uring backend not built in (feature io-uring); blocking".into());
            }
            Calls {}
        }
    }

    /// One `splice(2)`.
    pub fn splice(
        &mut self,
        fd_in: BorrowedFd<'_>,
        off_in: Option<&mut u64>,
        fd_out: BorrowedFd<'_>,
        off_out: Option<&mut u64>,
        len: usize,
        flags: SpliceFlags,
    ) -> io::Result<usize> {
        #[cfg(feature = "io-uring")]
        if let Some(r) = self.ring.as_mut() {
            let (mut i, mut o) = (off_in, off_out);
            let op = ring::op(fd_in, i.as_deref_mut(), fd_out, o.as_deref_mut(), len);
            match r.splice_one(op.flags(flags)) {
                Ok(res) => {
                    ring::count(1);
                    return res;
                }
                Err(e) if r.is_broken() => {
                    // Nothing ran: the same call, blocking, and blocking from here on.
                    self.lose_ring(&e);
                    return sys::splice(fd_in, i, fd_out, o, len, flags);
                }
                Err(e) => return Err(e),
            }
        }
        sys::splice(fd_in, off_in, fd_out, off_out, len, flags)
    }

    /// One `tee(2)`.
    pub fn tee(
        &mut self,
        fd_in: BorrowedFd<'_>,
        fd_out: BorrowedFd<'_>,
        len: usize,
        flags: SpliceFlags,
    ) -> io::Result<usize> {
        #[cfg(feature = "io-uring")]
        if let Some(r) = self.ring.as_mut() {
            match r.tee_one(fd_in, fd_out, len, flags) {
                Ok(res) => {
                    ring::count(1);
                    return res;
                }
                Err(e) if r.is_broken() => self.lose_ring(&e),
                Err(e) => return Err(e),
            }
        }
        sys::tee(fd_in, fd_out, len, flags)
    }

    /// The broker's two hops for up to `len` bytes: source → `pipe`, then (on a ring, linked,
    /// issued only if the first hop moved all of `len`) `pipe` → sink. Returns the first hop's
    /// result and the second's when it ran; `None`: not submitted, or cancelled by the kernel
    /// because the first came back short or failed (it moved nothing then).
    pub fn hops(
        &mut self,
        x: &mut Xfer<'_>,
        pipe: &Pipe,
        len: usize,
    ) -> (io::Result<usize>, Option<io::Result<usize>>) {
        let flags = SpliceFlags::MOVE;
        #[cfg(feature = "io-uring")]
        if let Some(r) = self.ring.as_mut() {
            let first = ring::op(x.src, x.src_off.as_mut(), pipe.writer(), None, len);
            let second = ring::op(pipe.reader(), None, x.dst, x.dst_off.as_mut(), len);
            match r.splice_linked(first.flags(flags), second.flags(flags)) {
                Ok([a, b]) => {
                    ring::count(2);
                    let cancelled =
                        matches!(&b, Err(e) if e.raw_os_error() == Some(libc::ECANCELED));
                    return (a, (!cancelled).then_some(b));
                }
                Err(e) if r.is_broken() => self.lose_ring(&e),
                Err(e) => return (Err(e), None), // refused before submission, as splice(2) would
            }
        }
        let first = sys::splice(x.src, x.src_off.as_mut(), pipe.writer(), None, len, flags);
        (first, None)
    }

    #[cfg(feature = "io-uring")]
    fn lose_ring(&mut self, e: &io::Error) {
        super::log(|| format!("io_uring submission failed ({e}); blocking from here"));
        self.ring = None;
    }
}

/// One `splice(2)` between two descriptors at their positions (pipes), on `backend`; with
/// [`Backend::Uring`] the thread's ring is taken for this call only.
pub(crate) fn splice_on(
    backend: Backend,
    fd_in: BorrowedFd<'_>,
    fd_out: BorrowedFd<'_>,
    len: usize,
    flags: SpliceFlags,
) -> io::Result<usize> {
    Calls::new(backend).splice(fd_in, None, fd_out, None, len, flags)
}

/// One `tee(2)` on `backend`, as [`splice_on`].
pub(crate) fn tee_on(
    backend: Backend,
    fd_in: BorrowedFd<'_>,
    fd_out: BorrowedFd<'_>,
    len: usize,
    flags: SpliceFlags,
) -> io::Result<usize> {
    Calls::new(backend).tee(fd_in, fd_out, len, flags)
}

#[cfg(feature = "io-uring")]
impl Drop for Calls {
    fn drop(&mut self) {
        if let Some(r) = self.ring.take() {
            ring::give_back(r);
        }
    }
}

/// The thread's ring, set up on first use and kept between copies.
#[cfg(feature = "io-uring")]
pub(crate) mod ring {
    use std::cell::{Cell, RefCell};
    use std::os::fd::BorrowedFd;
    use std::sync::atomic::{AtomicBool, Ordering};

    use crate::sys::uring::{Ring, SpliceOp};

    thread_local! {
        static RING: RefCell<Option<Ring>> = const { RefCell::new(None) };
        static COMPLETIONS: Cell<u64> = const { Cell::new(0) };
    }

    /// The kernel said io_uring will not be had in this process (ENOSYS, EPERM, EACCES,
    /// EOPNOTSUPP): not asked again.
    static UNAVAILABLE: AtomicBool = AtomicBool::new(false);

    pub fn take() -> Option<Ring> {
        if let Some(r) = RING.with(|c| c.borrow_mut().take()) {
            return Some(r);
        }
        if UNAVAILABLE.load(Ordering::Relaxed) {
            return None;
        }
        match Ring::new(8) {
            Ok(r) => Some(r),
            Err(e) => {
                let lasting = [libc::ENOSYS, libc::EPERM, libc::EACCES, libc::EOPNOTSUPP];
                if e.raw_os_error().is_some_and(|n| lasting.contains(&n)) {
                    UNAVAILABLE.store(true, Ordering::Relaxed);
                }
                super::super::log(|| format!("io_uring unavailable ({e}); blocking splice"));
                None
            }
        }
    }

    pub fn give_back(r: Ring) {
        if !r.is_broken() {
            RING.with(|c| *c.borrow_mut() = Some(r));
        }
    }

    pub fn count(n: u64) {
        COMPLETIONS.with(|c| c.set(c.get() + n));
    }

    pub fn completions() -> u64 {
        COMPLETIONS.with(Cell::get)
    }

    pub fn op<'a>(
        fd_in: BorrowedFd<'a>,
        off_in: Option<&'a mut u64>,
        fd_out: BorrowedFd<'a>,
        off_out: Option<&'a mut u64>,
        len: usize,
    ) -> SpliceOp<'a> {
        let mut op = SpliceOp::new(fd_in, fd_out, len);
        if let Some(o) = off_in {
            op = op.off_in(o);
        }
        if let Some(o) = off_out {
            op = op.off_out(o);
        }
        op
    }
}
