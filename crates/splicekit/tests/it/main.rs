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
#[cfg(all(feature = "io-uring", feature = "tokio"))]
mod uring_relay;
mod util;
mod vmsplice;
