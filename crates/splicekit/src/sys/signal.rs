//! `SIGPIPE` disposition, for programs that must behave like classic tools on a closed pipe.

use std::io;
use std::sync::atomic::{AtomicU8, Ordering};

/// SIGPIPE's disposition when the process started, before Rust's runtime set it to "ignore":
/// 0 not recorded, 1 not ignored, 2 ignored.
static AT_START: AtomicU8 = AtomicU8::new(0);

/// Runs before `main` (and so before Rust's runtime touches SIGPIPE), from the ELF
/// `.init_array`, when the `sigpipe-at-start` feature is on.
#[cfg(feature = "sigpipe-at-start")]
#[used]
#[link_section = ".init_array"]
static RECORD_AT_START: extern "C" fn() = record_at_start;

#[cfg(feature = "sigpipe-at-start")]
extern "C" fn record_at_start() {
    let mut old = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a null new action makes sigaction only report the current one into `old`,
    // which is valid for writes; nothing else is touched.
    let r = unsafe { libc::sigaction(libc::SIGPIPE, std::ptr::null(), old.as_mut_ptr()) };
    if r == 0 {
        // SAFETY: sigaction returned 0, so it filled `old` (which started zeroed anyway).
        let old = unsafe { old.assume_init() };
        let ignored = old.sa_sigaction == libc::SIG_IGN;
        AT_START.store(if ignored { 2 } else { 1 }, Ordering::Relaxed);
    }
}

/// Whether SIGPIPE was ignored when the process started (a shell's `trap '' PIPE`, or a
/// parent that ignored it), as recorded before Rust's runtime changed it. `None` unless the
/// crate's `sigpipe-at-start` feature is on.
pub fn sigpipe_ignored_at_start() -> Option<bool> {
    match AT_START.load(Ordering::Relaxed) {
        1 => Some(false),
        2 => Some(true),
        _ => None,
    }
}

/// Gives SIGPIPE back the disposition the process inherited, as a C tool keeps it: killed by
/// SIGPIPE on a gone reader (status 141), unless the parent ignored SIGPIPE, in which case
/// writes fail with `EPIPE` and the tool reports it. Without the `sigpipe-at-start` feature
/// the inherited disposition is unknown and the default is restored.
pub fn restore_sigpipe_inherited() -> io::Result<()> {
    match sigpipe_ignored_at_start() {
        Some(true) => ignore_sigpipe(),
        _ => restore_sigpipe_default(),
    }
}

/// Sets `SIGPIPE` back to its default action: the process is killed when it writes, splices or
/// tees into a pipe or socket whose readers are gone, as GNU `cat` is (status 141 from a shell).
///
/// Rust's runtime ignores `SIGPIPE` at start-up, so such writes fail with `EPIPE` instead
/// (FACTS P1–P6, F25). Call this once, early in `main`, in a program that wants the classic
/// behaviour.
pub fn restore_sigpipe_default() -> io::Result<()> {
    set_sigpipe(libc::SIG_DFL)
}

/// Ignores `SIGPIPE`: writes into a pipe without readers then fail with `EPIPE`.
pub fn ignore_sigpipe() -> io::Result<()> {
    set_sigpipe(libc::SIG_IGN)
}

/// Ignores `SIGINT` (`tee -i`): Ctrl-C in the terminal no longer stops the process.
pub fn ignore_sigint() -> io::Result<()> {
    set(libc::SIGINT, libc::SIG_IGN)
}

fn set_sigpipe(action: libc::sighandler_t) -> io::Result<()> {
    set(libc::SIGPIPE, action)
}

fn set(signal: libc::c_int, action: libc::sighandler_t) -> io::Result<()> {
    // SAFETY: `action` is SIG_DFL or SIG_IGN, neither of which is a handler function, so no
    // code runs in signal context; `signal` only swaps the process-wide disposition.
    let old = unsafe { libc::signal(signal, action) };
    if old == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
