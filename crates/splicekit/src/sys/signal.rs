//! `SIGPIPE` disposition, for programs that must behave like classic tools on a closed pipe.

use std::io;

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

fn set_sigpipe(action: libc::sighandler_t) -> io::Result<()> {
    // SAFETY: `action` is SIG_DFL or SIG_IGN, neither of which is a handler function, so no
    // code runs in signal context; `signal` only swaps the process-wide disposition.
    let old = unsafe { libc::signal(libc::SIGPIPE, action) };
    if old == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
