//! The `splice` binary's one integration-test binary: real processes, real pipes and files.

mod applets;
mod bench;
mod cat;
mod faults;
mod gen;
mod limits;
mod pv;
mod pv_19;
mod pv_more;
mod pv_opts;
mod quoting;
mod relay;
mod settle;
mod sizes;
mod stdio;
mod tee;
mod util;
