//! splicekit's one integration-test binary.

mod conformance;
mod failures;
mod matrix;
mod oracle;
mod tee;
mod util;
mod vmsplice;
