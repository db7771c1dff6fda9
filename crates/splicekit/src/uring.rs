//! `splice(2)` and `tee(2)` through io_uring (feature `io-uring`; Linux 5.7 for splice, 5.8
//! for tee).
//!
//! [`Ring`] owns an io_uring instance and runs [`SpliceOp`]s on it, singly or as a linked pair
//! (`IOSQE_IO_LINK`: the second is issued only when the first moved its whole length; else the
//! kernel cancels it with `ECANCELED`), and `tee`. Each call is blocking: it submits, then waits
//! for every completion it caused before returning. The descriptors are borrowed for exactly
//! that long, so no entry the kernel still holds can name a descriptor the caller has closed
//! (io_uring looks a linked entry's descriptor up only when it issues it) — the guarantee the
//! borrow checker enforces here. No buffer is lent to the kernel: offsets travel by value.
//!
//! The copy engine uses a ring per thread when asked with
//! [`CopyOptions::backend`](crate::CopyOptions::backend) = [`Backend::Uring`](crate::Backend::Uring),
//! and falls back to blocking `splice(2)` where [`Ring::new`] fails.
//!
//! With feature `tokio` too, the async side: a `Reactor` per tokio runtime runs splice and
//! poll entries as futures (`Op`), keeping their descriptors open (as `Arc`s, `Keep`) until
//! each entry's own completion, whatever happens to the future; `relay_until` runs a
//! connection's two directions on it — the io_uring engine of `splice relay --engine uring`.

pub use crate::sys::uring::{Ring, SpliceOp};

/// How many completions the copy engine has reaped on the calling thread's ring (cancelled
/// linked hops included) since the thread started: 0 means every copy on this thread ran
/// blocking. For tests and diagnostics; `Ring`s made by the caller are not counted.
pub fn engine_completions() -> u64 {
    crate::copy::calls_ring_completions()
}

#[cfg(feature = "tokio")]
mod direction;
#[cfg(feature = "tokio")]
mod relay;

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use crate::sys::uring::reactor::{Accepts, Keep, Op, Reactor};

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use relay::relay_until;
