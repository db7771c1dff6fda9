//! splicekit's one integration-test binary.

mod conformance;
mod failures;
mod matrix;
mod oracle;
mod util;
mod vmsplice;
