//! `splice(2)` and `tee(2)` submitted through io_uring (`IORING_OP_SPLICE`, Linux 5.7;
//! `IORING_OP_TEE`, 5.8), on a ring owned by [`Ring`].
//!
//! Every call submits its entries and returns only once the kernel has posted a completion
//! for each of them. That is what makes the API safe: an entry names descriptors by number,
//! and io_uring resolves the number when the operation is *issued*, which for the second entry
//! of a linked pair is after the first completed. Because the call waits, the descriptors the
//! caller borrowed (`BorrowedFd<'_>`, `AsFd`) stay open for as long as any entry that names them
//! is in the kernel's hands. No memory is lent to the kernel: splice and tee take their
//! offsets by value, and the caller's offsets are advanced from the results afterwards.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use io_uring::{opcode, squeue, types, IoUring, Probe};

use super::{SpliceFlags, MAX_RW_COUNT};

#[cfg(feature = "tokio")]
pub(crate) mod reactor;

/// An io_uring instance that runs splice and tee, one call (or one linked pair) at a time.
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// use splicekit::uring::{Ring, SpliceOp};
/// use std::io::{Read, Write};
/// let mut ring = match Ring::new(4) {
///     Ok(r) => r,
///     Err(_) => return Ok(()), // no io_uring here (ENOSYS, EPERM): nothing to show
/// };
/// let (r, w) = splicekit::sys::pipe(splicekit::PipeFlags::CLOEXEC)?;
/// let mut src = tempfile::tempfile()?;
/// src.write_all(b"hello ring")?;
/// let mut at = 6;
/// let n = ring.splice(SpliceOp::new(src.as_fd(), w.as_fd(), 100).off_in(&mut at))?;
/// assert_eq!((n, at), (4, 10));
/// drop(w);
/// let mut got = String::new();
/// std::fs::File::from(r).read_to_string(&mut got)?;
/// assert_eq!(got, "ring");
/// # use std::os::fd::AsFd; Ok(()) }
/// ```
pub struct Ring {
    ring: IoUring,
    /// An `io_uring_enter` failed before the kernel took the entries pushed for it: they still
    /// sit in the submission queue, and a later submission would hand them to the kernel when
    /// their descriptors may be long closed. The ring is never entered again.
    broken: bool,
    /// The process that set the ring up. After `fork` the child's copy of this `Ring` names
    /// the same kernel ring as the parent's, and the two would take each other's entries and
    /// completions: only the creator uses it.
    pid: rustix::process::Pid,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("entries", &self.ring.params().sq_entries())
            .field("broken", &self.broken)
            .finish()
    }
}

/// One `splice(2)` to submit to a [`Ring`]: the two descriptors (borrowed for the call), the
/// offsets to read or write at, if any, the length and the flags.
#[derive(Debug)]
pub struct SpliceOp<'a> {
    fd_in: BorrowedFd<'a>,
    off_in: Option<&'a mut u64>,
    fd_out: BorrowedFd<'a>,
    off_out: Option<&'a mut u64>,
    len: usize,
    flags: SpliceFlags,
}

impl<'a> SpliceOp<'a> {
    /// Up to `len` bytes from `fd_in` to `fd_out` (one must be a pipe), at the descriptors' file
    /// positions, with no flags. `len` is clamped to [`MAX_RW_COUNT`].
    pub fn new(fd_in: BorrowedFd<'a>, fd_out: BorrowedFd<'a>, len: usize) -> Self {
        SpliceOp {
            fd_in,
            off_in: None,
            fd_out,
            off_out: None,
            len,
            flags: SpliceFlags::empty(),
        }
    }

    /// Reads `fd_in` at `*off` (advanced by the bytes moved; the file position stays), as
    /// `splice`'s `off_in`.
    pub fn off_in(mut self, off: &'a mut u64) -> Self {
        self.off_in = Some(off);
        self
    }

    /// Writes `fd_out` at `*off` (advanced by the bytes moved), as `splice`'s `off_out`.
    pub fn off_out(mut self, off: &'a mut u64) -> Self {
        self.off_out = Some(off);
        self
    }

    /// Sets the flags.
    pub fn flags(mut self, flags: SpliceFlags) -> Self {
        self.flags = flags;
        self
    }

    fn entry(&self) -> io::Result<squeue::Entry> {
        let op = opcode::Splice::new(
            types::Fd(self.fd_in.as_raw_fd()),
            offset(self.off_in.as_deref())?,
            types::Fd(self.fd_out.as_raw_fd()),
            offset(self.off_out.as_deref())?,
            clamp(self.len),
        );
        Ok(op.flags(known(self.flags)?).build())
    }

    /// Turns the completion's result into the call's, advancing the offsets as `splice(2)`
    /// does.
    fn finish(self, res: i32) -> io::Result<usize> {
        let n = result(res)?;
        for off in [self.off_in, self.off_out].into_iter().flatten() {
            *off += n as u64;
        }
        Ok(n)
    }
}

/// `-1` in an entry's offset means "no offset: use the file position", so an offset that
/// does not fit in an `i64` is refused here (`EINVAL`, as `splice(2)` refuses a negative one)
/// rather than read as that.
fn offset(off: Option<&u64>) -> io::Result<i64> {
    match off {
        None => Ok(-1),
        Some(&o) => i64::try_from(o).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL)),
    }
}

fn clamp(len: usize) -> u32 {
    len.min(MAX_RW_COUNT) as u32
}

/// The flags as the entry carries them. Bits outside [`SpliceFlags`]'s own are refused
/// (`EINVAL`, as `splice(2)` does): in an entry, bit 31 would name a registered file instead.
fn known(flags: SpliceFlags) -> io::Result<u32> {
    if flags.bits() & !SpliceFlags::all().bits() != 0 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    Ok(flags.bits())
}

fn result(res: i32) -> io::Result<usize> {
    if res < 0 {
        Err(io::Error::from_raw_os_error(-res))
    } else {
        Ok(res as usize)
    }
}

impl Ring {
    /// `io_uring_setup(2)`: creates a ring with `entries` submission slots (at least 2, so a
    /// linked pair fits), and checks that the kernel runs `IORING_OP_SPLICE` on it.
    ///
    /// Errors: `ENOSYS` no io_uring (or a seccomp filter that says so), `EPERM`
    /// `kernel.io_uring_disabled` = 2 (or 1, outside `io_uring_group`) or a seccomp filter,
    /// `ENOMEM` out of locked memory, `EOPNOTSUPP` a kernel older than 5.7 whose rings do not
    /// splice. See [io_uring_setup(2)](https://man7.org/linux/man-pages/man2/io_uring_setup.2.html).
    pub fn new(entries: u32) -> io::Result<Ring> {
        let ring = IoUring::new(entries.max(2))?;
        let mut probe = Probe::new();
        // IORING_REGISTER_PROBE is 5.6+: a kernel without it has no splice either.
        let splices = ring.submitter().register_probe(&mut probe).is_ok()
            && probe.is_supported(opcode::Splice::CODE);
        if !splices {
            return Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP));
        }
        Ok(Ring {
            ring,
            broken: false,
            pid: rustix::process::getpid(),
        })
    }

    /// `IORING_OP_SPLICE`: one `splice(2)` run by the ring, with the errors of
    /// [`splice`](super::splice) (a pipe or socket in blocking mode blocks a kernel worker,
    /// and this call waits for it). An error of the ring itself is returned too, after which
    /// [`Ring::is_broken`] is true.
    pub fn splice(&mut self, op: SpliceOp<'_>) -> io::Result<usize> {
        self.splice_one(op)?
    }

    /// The same, keeping an error of the ring (outer) apart from the splice's own (inner).
    pub(crate) fn splice_one(&mut self, op: SpliceOp<'_>) -> io::Result<io::Result<usize>> {
        let entry = match op.entry() {
            Ok(e) => e,
            Err(e) => return Ok(Err(e)), // refused here, as the kernel would: not the ring's
        };
        let [res] = self.run([entry])?;
        Ok(op.finish(res))
    }

    /// Two splices as linked entries (`IOSQE_IO_LINK`): `second` is issued only after `first`
    /// moved its whole length. If `first` fails or comes back short (its end of input, or a
    /// pipe holding less than asked), the kernel cancels `second`, whose result is then
    /// `ECANCELED` (`os error 125`) and which moved nothing.
    ///
    /// The outer error means neither entry ran: the ring's own (then [`Ring::is_broken`] is
    /// true), or `EINVAL` for an offset above `i64::MAX` or unknown flags. The inner results
    /// are each entry's, with offsets advanced as [`Ring::splice`] does.
    pub fn splice_linked(
        &mut self,
        first: SpliceOp<'_>,
        second: SpliceOp<'_>,
    ) -> io::Result<[io::Result<usize>; 2]> {
        let a = first.entry()?.flags(squeue::Flags::IO_LINK);
        let [ra, rb] = self.run([a, second.entry()?])?;
        Ok([first.finish(ra), second.finish(rb)])
    }

    /// `IORING_OP_TEE`: one `tee(2)` run by the ring, with the errors of [`tee`](super::tee)
    /// (`EINVAL` too on a kernel older than 5.8). An error of the ring itself is returned too.
    pub fn tee<I: AsFd, O: AsFd>(
        &mut self,
        fd_in: I,
        fd_out: O,
        len: usize,
        flags: SpliceFlags,
    ) -> io::Result<usize> {
        self.tee_one(fd_in.as_fd(), fd_out.as_fd(), len, flags)?
    }

    /// The same, keeping an error of the ring (outer) apart from the tee's own (inner).
    pub(crate) fn tee_one(
        &mut self,
        fd_in: BorrowedFd<'_>,
        fd_out: BorrowedFd<'_>,
        len: usize,
        flags: SpliceFlags,
    ) -> io::Result<io::Result<usize>> {
        let flags = match known(flags) {
            Ok(f) => f,
            Err(e) => return Ok(Err(e)),
        };
        let (i, o) = (types::Fd(fd_in.as_raw_fd()), types::Fd(fd_out.as_raw_fd()));
        let [res] = self.run([opcode::Tee::new(i, o, clamp(len)).flags(flags).build()])?;
        Ok(result(res))
    }

    /// Whether an earlier submission failed in a way that left the ring unusable, or the ring
    /// was used in a process other than the one that set it up (a child after `fork`, which
    /// shares the parent's kernel ring); every call then returns an error without entering the
    /// kernel.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Submits `entries` (user data = their index) and waits for all their completions;
    /// returns each one's result. `Err`: none of them ran.
    fn run<const N: usize>(&mut self, entries: [squeue::Entry; N]) -> io::Result<[i32; N]> {
        if self.broken {
            return Err(io::Error::other(
                "io_uring: ring unusable after a failed submit",
            ));
        }
        if rustix::process::getpid() != self.pid {
            self.broken = true;
            return Err(io::Error::other(
                "io_uring: ring set up by another process (fork)",
            ));
        }
        {
            let mut sq = self.ring.submission();
            for (i, e) in entries.into_iter().enumerate() {
                let e = e.user_data(i as u64);
                // The entry names descriptors only (splice and tee take their offsets by
                // value, no buffer is lent). This function returns only after the kernel posted
                // every pushed entry's completion below, or after it refused to take any of
                // them (then the ring is marked broken and never entered again).
                // SAFETY: the descriptors the entry names are borrowed by the caller for this
                // whole call, which outlives every use the kernel makes of the entry.
                let pushed = unsafe { sq.push(&e) };
                if pushed.is_err() {
                    self.broken = true; // cannot happen: every call leaves the queues empty
                    return Err(io::Error::other("io_uring: submission queue full"));
                }
            }
        }
        let mut res = [0i32; N];
        let mut seen = 0;
        while seen < N {
            if let Err(e) = self.ring.submit_and_wait(N - seen) {
                let retry = matches!(
                    e.raw_os_error(),
                    Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)
                );
                if !retry {
                    let untaken = self.ring.submission().len();
                    if untaken == N {
                        self.broken = true;
                        return Err(e);
                    }
                    // Some entries are in flight and the kernel will not let us wait for
                    // them: returning would end the borrows they rely on.
                    eprintln!("splicekit: io_uring_enter failed with entries in flight: {e}");
                    std::process::abort();
                }
            }
            for cqe in self.ring.completion() {
                if let Some(slot) = res.get_mut(cqe.user_data() as usize) {
                    *slot = cqe.result();
                    seen += 1;
                }
            }
        }
        Ok(res)
    }
}
