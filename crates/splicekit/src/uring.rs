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

pub use crate::sys::uring::{Ring, SpliceOp};
