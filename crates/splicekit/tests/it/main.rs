//! splicekit's one integration-test binary.

mod conformance;
mod failures;
mod matrix;
mod oracle;
mod settle;
mod tee;
#[cfg(feature = "tokio")]
mod tokio;
mod util;
mod vmsplice;
