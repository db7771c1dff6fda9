//! `splice`: cat, tee, pv, relay, gen and bench over Linux's splice architecture.
fn main() {}
