//! What a classic tool sees at start that Rust's runtime hides: the inherited `SIGPIPE`
//! disposition (the runtime ignores it) and which of the standard descriptors were closed (the
//! runtime reopens them on `/dev/null`). Both are recorded from the ELF `.init_array`, before
//! the runtime runs, when the `start-hook` feature is on.

use std::io;
use std::sync::atomic::{AtomicU8, Ordering};

/// SIGPIPE's disposition when the process started, before Rust's runtime set it to "ignore":
/// 0 not recorded, 1 not ignored, 2 ignored.
static AT_START: AtomicU8 = AtomicU8::new(0);

/// Which of fd 0, 1, 2 were closed at start (bits 0–2), and bit 7 once recorded.
static CLOSED_AT_START: AtomicU8 = AtomicU8::new(0);

/// Runs before `main` (and so before Rust's runtime touches SIGPIPE or the standard
/// descriptors), from the ELF `.init_array`, when the `start-hook` feature is on.
#[cfg(feature = "start-hook")]
#[used]
#[link_section = ".init_array"]
static RECORD_AT_START: extern "C" fn() = record_at_start;

#[cfg(feature = "start-hook")]
extern "C" fn record_at_start() {
    record_closed_stdio();
    record_sigpipe();
}

/// Puts an `O_PATH` descriptor of `/` where fd 0, 1 or 2 is closed. Every read, write, splice
/// or sendfile on it fails with `EBADF`, exactly as on the closed descriptor a C tool would
/// have, while the slot stays taken: no file the tool opens later lands on fd 1 and gets its
/// output. (Rust's runtime would put `/dev/null` there, which swallows writes and reads as
/// empty.) Close-on-exec, so children still start with the descriptor closed.
#[cfg(feature = "start-hook")]
fn record_closed_stdio() {
    let mut closed = 0x80u8;
    for fd in 0..3 {
        // SAFETY: F_GETFD takes no argument and only reads the descriptor table.
        let r = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        // SAFETY: errno is thread-local and was just set by the failed fcntl.
        if r == -1 && unsafe { *libc::__errno_location() } == libc::EBADF {
            closed |= 1 << fd;
            // SAFETY: a constant NUL-terminated path; the kernel returns the lowest free
            // descriptor, which is `fd` because every lower one is open or was filled here.
            let got = unsafe { libc::open(c"/".as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
            if got >= 0 && got != fd {
                // SAFETY: `got` was just opened here and is owned by nobody else.
                unsafe { libc::close(got) };
            }
        }
    }
    CLOSED_AT_START.store(closed, Ordering::Relaxed);
}

/// Whether standard descriptor `fd` (0, 1 or 2) was closed when the process started, as
/// recorded before Rust's runtime reopened it. `None` unless the crate's `start-hook` feature
/// is on (or for another `fd`). A closed descriptor is held by a stand-in on which every I/O
/// call fails with `EBADF`, as on the closed descriptor itself.
pub fn stdio_closed_at_start(fd: i32) -> Option<bool> {
    let v = CLOSED_AT_START.load(Ordering::Relaxed);
    (v & 0x80 != 0 && (0..3).contains(&fd)).then(|| v & (1 << fd) != 0)
}

#[cfg(feature = "start-hook")]
fn record_sigpipe() {
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
/// crate's `start-hook` feature is on.
pub fn sigpipe_ignored_at_start() -> Option<bool> {
    match AT_START.load(Ordering::Relaxed) {
        1 => Some(false),
        2 => Some(true),
        _ => None,
    }
}

/// Gives SIGPIPE back the disposition the process inherited, as a C tool keeps it: killed by
/// SIGPIPE on a gone reader (status 141), unless the parent ignored SIGPIPE, in which case
/// writes fail with `EPIPE` and the tool reports it. Without the `start-hook` feature
/// the inherited disposition is unknown and the default is restored.
///
/// # Errors
/// `signal(2)`'s error: `EINVAL` for an invalid signal or action, which these fixed
/// arguments never are, so in practice this does not fail.
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
/// (kernel-facts P1–P6). Call this once, early in `main`, in a program that wants the classic
/// behaviour.
///
/// # Errors
/// `signal(2)`'s error: `EINVAL` for an invalid signal or action, which these fixed
/// arguments never are, so in practice this does not fail.
pub fn restore_sigpipe_default() -> io::Result<()> {
    set_sigpipe(libc::SIG_DFL)
}

/// Ignores `SIGPIPE`: writes into a pipe without readers then fail with `EPIPE`.
///
/// # Errors
/// `signal(2)`'s error: `EINVAL` for an invalid signal or action, which these fixed
/// arguments never are, so in practice this does not fail.
pub fn ignore_sigpipe() -> io::Result<()> {
    set_sigpipe(libc::SIG_IGN)
}

/// Ignores `SIGINT` (`tee -i`): Ctrl-C in the terminal no longer stops the process.
///
/// # Errors
/// `signal(2)`'s error: `EINVAL` for an invalid signal or action, which these fixed
/// arguments never are, so in practice this does not fail.
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
