//! # splicekit
//!
//! Linux's splice architecture — `splice(2)`, `vmsplice(2)`, `tee(2)` — as safe, exact Rust,
//! and a copy engine that moves bytes between any two descriptors by the fastest path the
//! kernel offers, without copying them through user space where it can.
//!
//! Before — a user-space copy, every byte crosses into our buffer and back:
//! ```
//! # fn main() -> std::io::Result<()> {
//! # let mut src = tempfile::tempfile()?; let mut dst = tempfile::tempfile()?;
//! std::io::copy(&mut src, &mut dst)?;
//! # Ok(()) }
//! ```
//! After — the engine picks copy_file_range, sendfile or splice for the pair, falls back to
//! read/write where the kernel refuses, and says what it did:
//! ```
//! # fn main() -> Result<(), splicekit::Error> {
//! # use std::io::Write;
//! # let mut src = tempfile::tempfile().unwrap(); src.write_all(&[7; 10000]).unwrap();
//! # use std::io::Seek; src.rewind().unwrap();
//! # let dst = tempfile::tempfile().unwrap();
//! let report = splicekit::copy(&src, &dst)?;
//! assert_eq!(report.bytes, 10000);
//! println!("{} bytes by {}", report.bytes, report.strategy);
//! # Ok(()) }
//! ```
//!
//! * [`sys`] — one function per system call, errno untouched; the only `unsafe` code.
//! * [`copy()`] / [`copy_with`] — the engine; [`CopyOptions::file_pages`] decides whether pipes
//!   and sockets may reference a file's pages: never (the default), all but a copied tail so
//!   none is left when the copy returns ([`FilePages::Settle`]), or throughout; a file that
//!   shrank under shared pages is an error ([`TRUNCATED`]). [`settle()`] waits for a pipe's
//!   reader before a program promises what it wrote.
//! * [`Pipe`], [`PipePool`] — owned pipes and reused broker pipes.
//! * [`FdKind`] — what a descriptor is; errors name it.
//! * [`FanOut`] — one input into N outputs with `tee(2)`, splice where outputs allow it.
//! * [`VmspliceWriter`], [`PageBuf`], [`FrozenPages`] — `vmsplice(2)` made safe: buffers go
//!   to the pipe by value and come back only as fresh pages ([`vmsplice`] module docs).
//! * `uring` (feature `io-uring`) — splice and tee through io_uring on a ring that owns its
//!   submissions; [`CopyOptions::backend`] = [`Backend::Uring`] runs the engine's splices there;
//!   with `tokio` too, `uring::Reactor` (a ring driven from a tokio runtime) and
//!   `uring::relay_until` (a socket relay whose splices are io_uring entries).
//! * `tokio` (feature `tokio`) — `copy` and `copy_bidirectional` for tokio TCP and Unix streams
//!   (and `copy` for their split halves) through pooled broker pipes, waiting on readiness only
//!   after `EAGAIN`.
//!
//! Where the docs say `kernel-facts F13` (or another tag), the kernel behaviour they rely on
//! is written up, with how it was observed, in [`kernel_facts`] (part of these docs).
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod copy;
mod error;
pub mod kernel_facts {
    #![doc = include_str!("../kernel-facts.md")]
}
mod kind;
mod pipe;
mod ready;
pub mod sys;
pub mod tee;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod tokio;
#[cfg(feature = "io-uring")]
#[cfg_attr(docsrs, doc(cfg(feature = "io-uring")))]
pub mod uring;
pub mod vmsplice;

pub use copy::{
    check_holds, copy, copy_classified, copy_with, settle, Backend, CopyOptions, CopyReport,
    FilePages, Strategy, TRUNCATED,
};
pub use error::{Error, Op, Result, Side};
pub use kind::{FdInfo, FdKind, SocketKind};
pub use pipe::{grow_default, Pipe, PipePool, PooledPipe, DEFAULT_PIPE_SIZE};
pub use ready::{is_ready, wait_ready, Ready};
pub use sys::{FrozenPages, PageBuf, PageSize, PipeFlags, SpliceFlags};
pub use tee::{Action, FanError, FanOut, FanReport, OutputPath, OutputReport};
pub use vmsplice::{Release, TrySendError, VmspliceWriter};
