//! The `splice` binary's one integration-test binary: real processes, real pipes and files.

mod bench;
mod cat;
mod faults;
mod gen;
mod pv;
mod relay;
mod tee;
mod util;
