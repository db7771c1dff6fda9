//! splicekit's one integration-test binary.

mod conformance;
mod failures;
mod matrix;
mod oracle;
mod settle;
mod tee;
#[cfg(feature = "tokio")]
mod tokio;
#[cfg(feature = "io-uring")]
mod uring;
mod util;
mod vmsplice;
