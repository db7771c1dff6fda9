//! Kernel support, learnt once per process: a primitive that answered `ENOSYS` (missing, or
//! blocked by a seccomp filter, kernel-facts F10) is not tried again.

use std::io;
use std::sync::atomic::{AtomicU8, Ordering};

use super::Strategy;

static MISSING: AtomicU8 = AtomicU8::new(0);

fn bit(s: Strategy) -> u8 {
    match s {
        Strategy::CopyFileRange => 1,
        Strategy::Sendfile => 2,
        Strategy::Splice | Strategy::SpliceBroker => 4,
        Strategy::ReadWrite => 0,
    }
}

/// Whether `s` is known to be unavailable in this process.
pub(super) fn is_missing(s: Strategy) -> bool {
    MISSING.load(Ordering::Relaxed) & bit(s) != 0
}

/// Records why `s` was refused; only `ENOSYS` is taken as "never available".
pub(super) fn note(s: Strategy, why: &io::Error) {
    if why.raw_os_error() == Some(libc::ENOSYS) {
        MISSING.fetch_or(bit(s), Ordering::Relaxed);
    }
}
