//! Listening sockets handed over by a service manager (systemd's socket activation,
//! `sd_listen_fds(3)`): descriptors 3, 4, … that the process inherited at `exec` and that
//! nothing in it owns yet.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// `SD_LISTEN_FDS_START`: the first descriptor a service manager passes.
pub const LISTEN_FDS_START: RawFd = 3;

/// Set by the first call of [`take_listen_fds`].
static TAKEN: AtomicBool = AtomicBool::new(false);

/// Takes ownership of the `n` descriptors from [`LISTEN_FDS_START`] that a service manager
/// passed (the caller has checked `LISTEN_PID` and read `n` from `LISTEN_FDS`), and marks
/// them close-on-exec.
///
/// Once per process, so these descriptors are never owned twice through this function; the
/// process must not have taken them another way.
///
/// # Errors
/// * `EALREADY` — a second call in this process;
/// * `EINVAL` — an `n` so large that the descriptor numbers would overflow;
/// * `EBADF` — one of the descriptors is not open;
/// * `ENOTSOCK` — one of them is not a socket;
/// * `fcntl(F_SETFD)`'s error while marking one close-on-exec (then those taken so far are
///   closed).
///
/// On `EBADF` and `ENOTSOCK` none is taken: all are left open and unowned, as they were.
pub fn take_listen_fds(n: usize) -> io::Result<Vec<OwnedFd>> {
    let last = RawFd::try_from(n)
        .ok()
        .and_then(|n| n.checked_add(LISTEN_FDS_START))
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    if TAKEN.swap(true, Ordering::SeqCst) {
        return Err(io::Error::from_raw_os_error(libc::EALREADY));
    }
    for fd in LISTEN_FDS_START..last {
        // SAFETY: F_GETFD takes no argument and only reads the descriptor table.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            return Err(io::Error::last_os_error());
        }
        let mut kind: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `kind` and `len` are valid for writes and `len` holds `kind`'s size, as
        // getsockopt(SO_TYPE) requires; the call only reads the descriptor.
        let r = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_TYPE,
                (&mut kind as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if r == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    let fds = (LISTEN_FDS_START..last).map(|fd| {
        // SAFETY: `fd` is open (checked above) and, by the socket-activation protocol, was
        // passed at exec for this process to own; TAKEN makes this the only place in the
        // process that takes it, once.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC)?;
        Ok(fd)
    });
    fds.collect()
}
