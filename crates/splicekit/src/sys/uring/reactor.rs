//! An io_uring driven from a tokio runtime: [`Reactor`] owns a ring whose descriptor is
//! registered with tokio ([`AsyncFd`]); a driver task reaps completions and wakes the
//! [`Op`] futures waiting for them.
//!
//! What keeps it safe: an entry names descriptors by number, and the kernel may look a number
//! up at any time until the entry's completion is posted. So every op takes its descriptors as
//! `Arc`s ([`Keep`]), and the reactor holds those `Arc`s in the op's slot until the kernel has
//! posted that op's own completion — whatever happens to the [`Op`] future meanwhile. A future
//! dropped early (a timeout, a cut) asks the kernel to cancel the entry
//! (`IORING_OP_ASYNC_CANCEL`) and leaves the slot as an orphan, which lets go of the
//! descriptors only when the completion arrives. Leaking the future (`mem::forget`) leaks the
//! descriptors, never closes them early. No memory is lent to the kernel: splice takes its
//! length and flags by value, poll its mask.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use io_uring::{cqueue, opcode, squeue, types, IoUring, Probe};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::sys::{SpliceFlags, MAX_RW_COUNT};

/// A descriptor owner an [`Op`] keeps alive (and open) until its completion: anything that
/// derefs to a descriptor and may be shared across threads.
pub trait Keep: AsFd + Send + Sync + 'static {}

impl<T: AsFd + Send + Sync + 'static> Keep for T {}

/// The user data of cancel entries: their completions are not looked at.
const CANCEL: u64 = u64::MAX;

/// The descriptors an op's slot keeps open (one or two).
type Held = [Option<Arc<dyn Keep>>; 2];

/// One op's place in the reactor, indexed by the entry's user data.
enum Slot {
    Free,
    /// In the kernel's hands: `keep` holds its descriptors open until `res` is posted.
    Busy {
        /// Held, never read: dropping it is what closes (or pools) the descriptors.
        _keep: Held,
        waker: Option<Waker>,
        res: Option<i32>,
        /// The future is gone: free the slot (and the descriptors) at the completion.
        orphan: bool,
        /// A cancel entry was already pushed for it.
        cancelled: bool,
    },
    /// A multishot accept: each completion a new connection, until one without
    /// `IORING_CQE_F_MORE` ends it.
    Accepts {
        /// The listening socket (a duplicate), open until the last completion.
        _keep: Arc<dyn Keep>,
        waker: Option<Waker>,
        /// Connections accepted and not yet taken (owned: closed if never taken).
        ready: VecDeque<OwnedFd>,
        /// The last completion's result (0 or `-errno`): no more will come.
        ended: Option<i32>,
        orphan: bool,
        cancelled: bool,
    },
}

impl Slot {
    /// Whether the kernel may still post completions for this slot.
    fn in_flight(&self) -> bool {
        matches!(
            self,
            Slot::Busy { res: None, .. } | Slot::Accepts { ended: None, .. }
        )
    }
}

struct Inner {
    ring: IoUring,
    slots: Vec<Slot>,
    /// Each slot's use count: an entry's user data is its slot and the slot's count then,
    /// so a completion or a cancel aimed at an earlier op in the slot finds nothing.
    gens: Vec<u32>,
    free: Vec<usize>,
    /// An `io_uring_enter` failed with entries it did not take: they may still be submitted
    /// by a later enter, so no slot is ever reused and no new op is started.
    broken: bool,
}

/// A duplicate of the ring's descriptor, owned by tokio's `AsyncFd` (the same open ring, so
/// the same readiness).
struct RingFd(OwnedFd);

impl AsRawFd for RingFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// An io_uring for one tokio runtime (a relay worker): ops are submitted as they are made,
/// and their completions are reaped by a driver task spawned on the runtime that created it.
///
/// Made by [`Reactor::new`] inside a runtime; the driver runs until that runtime shuts down.
pub struct Reactor {
    /// Dropped (deregistered from tokio) before the ring is closed.
    afd: AsyncFd<RingFd>,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor").finish_non_exhaustive()
    }
}

impl Reactor {
    /// `io_uring_setup(2)` with `entries` submission slots, checks that the ring runs
    /// `IORING_OP_SPLICE` and `IORING_OP_POLL_ADD`, registers its descriptor with the current
    /// tokio runtime and spawns the driver task there.
    ///
    /// # Errors
    /// `ENOSYS` no io_uring (or a seccomp filter that says so), `EPERM`
    /// `kernel.io_uring_disabled` (or a seccomp filter), `ENOMEM` locked memory,
    /// `EOPNOTSUPP` a ring that cannot splice (Linux before 5.7); tokio's error registering
    /// the descriptor.
    ///
    /// # Panics
    /// Outside a tokio runtime (as `tokio::spawn` does).
    pub fn new(entries: u32) -> io::Result<Arc<Reactor>> {
        // A completion queue 16 times the submission queue: a worker with many connections
        // (up to four entries each) overflows it rarely; overflowed completions are flushed
        // back when reaped.
        let ring = IoUring::builder()
            .setup_cqsize(entries.max(8) * 16)
            .build(entries.max(8))?;
        let mut probe = Probe::new();
        let ok = ring.submitter().register_probe(&mut probe).is_ok()
            && probe.is_supported(opcode::Splice::CODE)
            && probe.is_supported(opcode::PollAdd::CODE)
            && probe.is_supported(opcode::AsyncCancel::CODE);
        if !ok {
            return Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP));
        }
        // SAFETY: `ring` owns this descriptor and lives past the borrow (this statement).
        let fd = unsafe { BorrowedFd::borrow_raw(ring.as_raw_fd()) };
        let dup = rustix::io::fcntl_dupfd_cloexec(fd, 0)?;
        // SAFETY: the `AsyncFd` owns the descriptor (a duplicate of the ring's, in `RingFd`'s
        // `OwnedFd`): it stays open and the same until the `AsyncFd` drops or forgets it.
        let afd = unsafe { AsyncFd::register_with_interest(RingFd(dup), Interest::READABLE) }?;
        let r = Arc::new(Reactor {
            afd,
            inner: Mutex::new(Inner {
                ring,
                slots: Vec::new(),
                gens: Vec::new(),
                free: Vec::new(),
                broken: false,
            }),
        });
        tokio::spawn(drive(r.clone()));
        Ok(r)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `IORING_OP_SPLICE` from `fd_in` to `fd_out` (one a pipe), up to `len` bytes (clamped
    /// to [`MAX_RW_COUNT`]), no offsets. The op's result is `splice(2)`'s: bytes moved, 0 at
    /// the end of input, or `-errno`. Blocking descriptors block a kernel worker thread;
    /// with `SPLICE_F_NONBLOCK` and non-blocking sockets the call never waits.
    pub fn splice(
        self: &Arc<Self>,
        fd_in: Arc<dyn Keep>,
        fd_out: Arc<dyn Keep>,
        len: usize,
        flags: SpliceFlags,
    ) -> Op {
        let e = splice_entry(&fd_in, &fd_out, len, flags);
        let [op] = self.start_ops([(e, [Some(fd_in), Some(fd_out)])]);
        op
    }

    /// Two splices in one submission, the second hard-linked to the first
    /// (`IOSQE_IO_HARDLINK`): it starts once the first has completed, whatever its result
    /// (a short or failed first splice does not cancel it). Each is as [`Reactor::splice`]:
    /// `(fd_in, fd_out, len)`, both with `flags`. For a broker's two hops, the second moving
    /// out of the pipe what the first put in (with `SPLICE_F_NONBLOCK`, an empty pipe is
    /// `EAGAIN`, not a wait).
    pub fn splice_hardlinked(
        self: &Arc<Self>,
        first: (Arc<dyn Keep>, Arc<dyn Keep>, usize),
        second: (Arc<dyn Keep>, Arc<dyn Keep>, usize),
        flags: SpliceFlags,
    ) -> (Op, Op) {
        let (a_in, a_out, a_len) = first;
        let (b_in, b_out, b_len) = second;
        let a = splice_entry(&a_in, &a_out, a_len, flags).flags(squeue::Flags::IO_HARDLINK);
        let b = splice_entry(&b_in, &b_out, b_len, flags);
        let [x, y] = self.start_ops([
            (a, [Some(a_in), Some(a_out)]),
            (b, [Some(b_in), Some(b_out)]),
        ]);
        (x, y)
    }

    /// `IORING_OP_POLL_ADD`, one shot: completes with the `poll(2)` events (`POLLIN`,
    /// `POLLOUT`, `POLLERR`, `POLLHUP`, …) of `fd` once one of `events` (or an error or hang-up)
    /// holds.
    pub fn poll(self: &Arc<Self>, fd: Arc<dyn Keep>, events: u32) -> Op {
        let raw = fd.as_fd().as_raw_fd();
        let e = opcode::PollAdd::new(types::Fd(raw), events).build();
        let [op] = self.start_ops([(e, [Some(fd), None])]);
        op
    }

    /// `IORING_OP_ACCEPT` in multishot mode (Linux 5.19+) on the listening socket `listener`:
    /// one entry that accepts every connection as it comes (`SOCK_CLOEXEC | SOCK_NONBLOCK`),
    /// each taken with [`Accepts::next`], where a tokio listener makes one `accept4` call
    /// per connection. A kernel without multishot accept ends it at once with `EINVAL`.
    pub fn accept_multishot(self: &Arc<Self>, listener: Arc<dyn Keep>) -> Accepts {
        let raw = listener.as_fd().as_raw_fd();
        let e = opcode::AcceptMulti::new(types::Fd(raw))
            .flags(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK)
            .build();
        let slot = Slot::Accepts {
            _keep: listener,
            waker: None,
            ready: VecDeque::new(),
            ended: None,
            orphan: false,
            cancelled: false,
        };
        match self.start_slot(e, slot) {
            Ok(slot) => Accepts {
                reactor: self.clone(),
                slot: Some(slot),
                failed: None,
            },
            Err(e) => Accepts {
                reactor: self.clone(),
                slot: None,
                failed: Some(e),
            },
        }
    }

    /// Pushes the entries together (a link chain stays whole), each with its slot and the
    /// slot's use count as user data, and submits them; an op per entry, holding `keep`.
    fn start_ops<const N: usize>(self: &Arc<Self>, ops: [(squeue::Entry, Held); N]) -> [Op; N] {
        let busy = ops.map(|(entry, keep)| {
            let slot = Slot::Busy {
                _keep: keep,
                waker: None,
                res: None,
                orphan: false,
                cancelled: false,
            };
            (entry, slot)
        });
        match self.start_slots(busy) {
            Ok(slots) => slots.map(|slot| Op {
                reactor: self.clone(),
                state: OpState::Slot(slot),
            }),
            // io::Error is not Clone: each op its own, with the same errno or text.
            Err(e) => std::array::from_fn(|_| {
                let e = match e.raw_os_error() {
                    Some(n) => io::Error::from_raw_os_error(n),
                    None => io::Error::new(e.kind(), e.to_string()),
                };
                Op::failed(self, e)
            }),
        }
    }

    /// Puts `state` in a free slot, then pushes `entry` with that slot (and its use count) as
    /// its user data and submits it; returns the slot.
    fn start_slot(self: &Arc<Self>, entry: squeue::Entry, state: Slot) -> io::Result<usize> {
        self.start_slots([(entry, state)]).map(|[s]| s)
    }

    /// [`Reactor::start_slot`] for entries pushed together (a link chain).
    fn start_slots<const N: usize>(
        self: &Arc<Self>,
        ops: [(squeue::Entry, Slot); N],
    ) -> io::Result<[usize; N]> {
        let mut inner = self.lock();
        if inner.broken {
            return Err(io::Error::other("io_uring: ring unusable"));
        }
        let mut slots = [0; N];
        let mut k = 0;
        let entries = ops.map(|(entry, state)| {
            let slot = match inner.free.pop() {
                Some(s) => s,
                None => {
                    inner.slots.push(Slot::Free);
                    inner.gens.push(0);
                    inner.slots.len() - 1
                }
            };
            inner.slots[slot] = state;
            inner.gens[slot] = inner.gens[slot].wrapping_add(1);
            slots[k] = slot;
            k += 1;
            entry.user_data(inner.user_data(slot))
        });
        match inner.push_all(&entries) {
            Ok(()) => Ok(slots),
            Err(e) if inner.broken => {
                // The enter failed after the push, maybe: the entries may still sit in the
                // queue and reach the kernel later, so their slots keep the descriptors for
                // good (a broken ring reuses no slot).
                for &slot in &slots {
                    match &mut inner.slots[slot] {
                        Slot::Busy { orphan, .. } | Slot::Accepts { orphan, .. } => *orphan = true,
                        Slot::Free => {}
                    }
                }
                Err(e)
            }
            Err(e) => {
                // Never pushed (the queue stayed full): the slots are free again and nothing
                // names the descriptors.
                for &slot in &slots {
                    inner.release(slot);
                }
                Err(e)
            }
        }
    }

    /// Takes every posted completion: results into their slots (waking their futures),
    /// orphans freed.
    fn reap(&self) {
        let mut wake = Vec::new();
        {
            let mut inner = self.lock();
            let inner = &mut *inner;
            // Rounds: take what the queue holds; then completions the kernel kept aside while
            // it was full (IORING_FEAT_NODROP) come back through an enter, which can flush
            // them only now that the queue has room; entries an enter left queued (EAGAIN,
            // EBUSY) are handed over too. Bounded: what is left raises readiness again.
            for _round in 0..64 {
                let done: Vec<(u64, i32, u32)> = inner
                    .ring
                    .completion()
                    .map(|c| (c.user_data(), c.result(), c.flags()))
                    .collect();
                inner.settle(done, &mut wake);
                if inner.broken {
                    break;
                }
                let overflow = inner.ring.submission().cq_overflow();
                let queued = !inner.ring.submission().is_empty();
                if !overflow && !queued {
                    break;
                }
                // `submit` asks for events (a flush) whenever the overflow flag is up.
                if inner.enter().is_err() || (!overflow && inner.ring.completion().is_empty()) {
                    break;
                }
            }
        }
        for w in wake {
            w.wake();
        }
    }
}

impl Inner {
    /// The user data of the op now in `slot`.
    fn user_data(&self, slot: usize) -> u64 {
        (u64::from(self.gens[slot]) << 32) | slot as u64
    }

    /// The slot whose current op `ud` names (`None` for a cancel entry's).
    fn slot_of(&self, ud: u64) -> Option<usize> {
        let slot = (ud & u64::from(u32::MAX)) as usize;
        let current = ud != CANCEL && self.gens.get(slot) == Some(&((ud >> 32) as u32));
        current.then_some(slot)
    }

    /// Frees `slot` for reuse — never on a broken ring, whose queued entries may still reach
    /// the kernel (so its slots and the descriptors they hold stay as they are).
    fn release(&mut self, slot: usize) {
        self.slots[slot] = Slot::Free;
        if !self.broken {
            self.free.push(slot);
        }
    }

    /// Puts completions into their slots: results for the futures (whose wakers go into
    /// `wake`), connections for multishot accepts, orphans freed.
    fn settle(&mut self, done: Vec<(u64, i32, u32)>, wake: &mut Vec<Waker>) {
        let inner = self;
        {
            for (ud, r, flags) in done {
                let Some(i) = inner.slot_of(ud) else {
                    continue; // a cancel entry's
                };
                let slot = &mut inner.slots[i];
                match slot {
                    Slot::Accepts {
                        ready,
                        ended,
                        waker,
                        orphan,
                        ..
                    } => {
                        if let Some(fd) = accepted(r) {
                            if !*orphan {
                                ready.push_back(fd);
                            }
                        }
                        if !cqueue::more(flags) {
                            if *orphan {
                                inner.release(i);
                                continue;
                            }
                            *ended = Some(r.min(0));
                        }
                        wake.extend(waker.take());
                    }
                    Slot::Busy { orphan: true, .. } => inner.release(i),
                    Slot::Busy { res, waker, .. } => {
                        *res = Some(r);
                        wake.extend(waker.take());
                    }
                    Slot::Free => {}
                }
            }
        }
    }

    /// Pushes one entry and hands it to the kernel (`io_uring_enter`).
    fn push(&mut self, entry: &squeue::Entry) -> io::Result<()> {
        self.push_all(std::slice::from_ref(entry))
    }

    /// Pushes `entries` together (all or none, in order: a link chain stays whole) and hands
    /// them to the kernel in one enter.
    fn push_all(&mut self, entries: &[squeue::Entry]) -> io::Result<()> {
        for _ in 0..2 {
            // The entries name descriptors only (no buffer); the slots they were made for
            // hold them, as `Arc`s, until the completion carrying their user data is reaped
            // (or for ever, if the ring breaks), so no number they name can be closed and
            // reused while the kernel may still look it up.
            // SAFETY: every descriptor the entries name outlives the entries in the kernel.
            let pushed = unsafe { self.ring.submission().push_multiple(entries) };
            if pushed.is_ok() {
                return self.enter();
            }
            // The queue is full (entries an earlier enter left): hand them over first.
            self.enter()?;
        }
        // Still full: the kernel takes nothing now. These entries were not pushed.
        Err(io::Error::from_raw_os_error(libc::EBUSY))
    }

    fn enter(&mut self) -> io::Result<()> {
        loop {
            match self.ring.submitter().submit() {
                Ok(_) if self.ring.submission().is_empty() => return Ok(()),
                // Some taken (the rest follow a failed one): hand those over too. None taken
                // and no error: left for the next enter, rather than spinning here.
                Ok(0) => return Ok(()),
                Ok(_) => continue,
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                // EAGAIN/EBUSY: the kernel is short of memory or the completion queue is
                // overflowing; the entries stay queued for the next enter (every new op
                // enters again), so they are taken, just later.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EBUSY)) => {
                    return Ok(())
                }
                Err(e) => {
                    self.broken = true;
                    return Err(e);
                }
            }
        }
    }

    /// Asks the kernel to cancel the entry in `slot` (its completion still comes, with
    /// `-ECANCELED` or whatever it had got to). The cancel's own completion is ignored.
    fn cancel(&mut self, slot: usize) {
        let cancelled = match self.slots.get_mut(slot) {
            Some(Slot::Busy {
                cancelled,
                res: None,
                ..
            }) => cancelled,
            Some(Slot::Accepts {
                cancelled,
                ended: None,
                ..
            }) => cancelled,
            _ => return,
        };
        if !std::mem::replace(cancelled, true) {
            let e = self.cancel_entry(slot);
            let _ = self.push(&e);
        }
    }

    /// The cancel entry aimed at the op now in `slot` (and at no later one there).
    fn cancel_entry(&self, slot: usize) -> squeue::Entry {
        opcode::AsyncCancel::new(self.user_data(slot))
            .build()
            .user_data(CANCEL)
    }
}

impl Drop for Reactor {
    /// Waits for every entry still in the kernel (cancelling them) before the ring and the
    /// descriptors the slots hold are closed.
    fn drop(&mut self) {
        let inner = self.inner.get_mut().unwrap_or_else(|e| e.into_inner());
        if inner.broken {
            return; // entries may never complete: the slots' descriptors stay leaked
        }
        let busy: Vec<usize> = (0..inner.slots.len())
            .filter(|&i| inner.slots[i].in_flight())
            .collect();
        for &i in &busy {
            inner.cancel(i);
        }
        let mut left = busy.len();
        while left > 0 && !inner.broken {
            match inner.ring.submitter().submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(_) => break,
            }
            let done: Vec<(u64, i32, u32)> = inner
                .ring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags()))
                .collect();
            for (ud, r, flags) in done {
                let Some(i) = inner.slot_of(ud) else {
                    continue;
                };
                let s = &mut inner.slots[i];
                if matches!(s, Slot::Accepts { .. }) {
                    drop(accepted(r)); // a connection nobody will take: closed
                    if cqueue::more(flags) {
                        continue;
                    }
                }
                if s.in_flight() {
                    *s = Slot::Free;
                    left -= 1;
                }
            }
        }
        if left > 0 {
            // Entries the kernel still holds: their descriptors stay open for good.
            std::mem::forget(std::mem::take(&mut inner.slots));
        }
    }
}

/// Reaps completions whenever the ring's descriptor turns readable.
async fn drive(r: Arc<Reactor>) {
    loop {
        let mut ready = match r.afd.readable().await {
            Ok(g) => g,
            Err(_) => return,
        };
        // Cleared before reaping: a completion posted after the reap raises a new edge.
        ready.clear_ready();
        drop(ready);
        r.reap();
    }
}

enum OpState {
    Slot(usize),
    Failed(Option<io::Error>),
    Done,
}

/// One submitted entry: completes with the kernel's result (`>= 0`, or `-errno`).
///
/// Dropping it before it completes cancels the entry; its descriptors stay open until the
/// kernel has posted its completion.
pub struct Op {
    reactor: Arc<Reactor>,
    state: OpState,
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Op").finish_non_exhaustive()
    }
}

impl Op {
    fn failed(r: &Arc<Reactor>, e: io::Error) -> Op {
        Op {
            reactor: r.clone(),
            state: OpState::Failed(Some(e)),
        }
    }

    /// Asks the kernel to cancel the entry; the future still completes, once the kernel has
    /// let go of it, with `-ECANCELED` or the result it had reached.
    pub fn cancel(&mut self) {
        if let OpState::Slot(s) = self.state {
            self.reactor.lock().cancel(s);
        }
    }
}

impl std::future::Future for Op {
    /// The completion's result: `Err` only for the ring's own failure (the entry never
    /// reached the kernel).
    type Output = io::Result<i32>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<i32>> {
        let slot = match &mut self.state {
            OpState::Slot(s) => *s,
            OpState::Failed(e) => {
                let e = e
                    .take()
                    .unwrap_or_else(|| io::Error::other("io_uring op polled again"));
                self.state = OpState::Done;
                return Poll::Ready(Err(e));
            }
            OpState::Done => return Poll::Ready(Err(io::Error::other("io_uring op polled again"))),
        };
        let reactor = self.reactor.clone();
        let mut inner = reactor.lock();
        let inner = &mut *inner;
        let Some(Slot::Busy { res, waker, .. }) = inner.slots.get_mut(slot) else {
            return Poll::Ready(Err(io::Error::other("io_uring: lost slot")));
        };
        if let Some(r) = *res {
            // Completed: the kernel is done with the descriptors.
            inner.release(slot);
            self.state = OpState::Done;
            return Poll::Ready(Ok(r));
        }
        match waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        let OpState::Slot(slot) = self.state else {
            return;
        };
        let mut inner = self.reactor.lock();
        let inner = &mut *inner;
        match inner.slots.get_mut(slot) {
            Some(Slot::Busy { res: Some(_), .. }) => {
                inner.release(slot);
            }
            Some(Slot::Busy { orphan, waker, .. }) => {
                *orphan = true;
                *waker = None;
                inner.cancel(slot);
            }
            _ => {}
        }
    }
}

/// `IORING_OP_SPLICE` from `fd_in` to `fd_out`, up to `len` bytes (clamped to
/// [`MAX_RW_COUNT`]), no offsets; user data set when it is started.
fn splice_entry(
    fd_in: &Arc<dyn Keep>,
    fd_out: &Arc<dyn Keep>,
    len: usize,
    flags: SpliceFlags,
) -> squeue::Entry {
    let (i, o) = (fd_in.as_fd().as_raw_fd(), fd_out.as_fd().as_raw_fd());
    let len = len.min(MAX_RW_COUNT) as u32;
    // Only the splice flags themselves: bit 31 would name a registered file.
    let flags = flags.bits() & SpliceFlags::all().bits();
    opcode::Splice::new(types::Fd(i), -1, types::Fd(o), -1, len)
        .flags(flags)
        .build()
}

/// The connection a multishot accept's completion carries (`result` >= 0), owned from here on.
fn accepted(result: i32) -> Option<OwnedFd> {
    // SAFETY: a non-negative accept result is a descriptor the kernel has just installed in
    // this process for us; nothing else knows its number, so this is its only owner.
    (result >= 0).then(|| unsafe { OwnedFd::from_raw_fd(result) })
}

/// The connections a multishot accept ([`Reactor::accept_multishot`]) takes, in order.
///
/// Dropping it cancels the accept; connections accepted and not taken are closed, as are any
/// the kernel accepts before the cancellation lands.
pub struct Accepts {
    reactor: Arc<Reactor>,
    slot: Option<usize>,
    failed: Option<io::Error>,
}

impl std::fmt::Debug for Accepts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accepts").finish_non_exhaustive()
    }
}

impl Accepts {
    /// The next accepted connection (a non-blocking, close-on-exec socket), or `None` once
    /// the accept has ended without an error (the kernel stops a multishot accept whose
    /// completion queue overflowed): make a new one with [`Reactor::accept_multishot`].
    ///
    /// # Errors
    /// Once the accept has ended, the errno of its last completion (`EMFILE`, `ENFILE`,
    /// `EINVAL` on a kernel without multishot accept, `ECANCELED`…), or the ring's own
    /// failure; every later call fails too.
    pub async fn next(&mut self) -> io::Result<Option<OwnedFd>> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<OwnedFd>>> {
        let Some(slot) = self.slot else {
            let e = self
                .failed
                .take()
                .unwrap_or_else(|| io::Error::from_raw_os_error(libc::ECANCELED));
            return Poll::Ready(Err(e));
        };
        let reactor = self.reactor.clone();
        let mut inner = reactor.lock();
        let inner = &mut *inner;
        let Some(Slot::Accepts {
            ready,
            ended,
            waker,
            ..
        }) = inner.slots.get_mut(slot)
        else {
            self.slot = None;
            return Poll::Ready(Err(io::Error::other("io_uring: lost slot")));
        };
        if let Some(fd) = ready.pop_front() {
            return Poll::Ready(Ok(Some(fd)));
        }
        if let Some(r) = *ended {
            inner.release(slot);
            self.slot = None;
            self.failed = Some(io::Error::from_raw_os_error(libc::ECANCELED));
            return Poll::Ready(if r < 0 {
                Err(io::Error::from_raw_os_error(-r))
            } else {
                Ok(None)
            });
        }
        match waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for Accepts {
    fn drop(&mut self) {
        let Some(slot) = self.slot else {
            return;
        };
        let mut inner = self.reactor.lock();
        let inner = &mut *inner;
        match inner.slots.get_mut(slot) {
            Some(Slot::Accepts { ended: Some(_), .. }) => {
                inner.release(slot); // the untaken connections close here
            }
            Some(Slot::Accepts {
                orphan,
                waker,
                ready,
                ..
            }) => {
                *orphan = true;
                *waker = None;
                ready.clear();
                inner.cancel(slot);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `test` with a reactor on a current-thread runtime, or says on the real stderr
    /// (past libtest's capture, as the other tests' skips) why it could not.
    fn with_reactor<F: std::future::Future<Output = ()>>(test: impl FnOnce(Arc<Reactor>) -> F) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            match Reactor::new(8) {
                Ok(r) => test(r).await,
                Err(e) => {
                    use std::io::Write;
                    let _ = writeln!(std::io::stderr(), "skipped: no io_uring here ({e})");
                }
            }
        });
    }

    #[test]
    fn a_hardlinked_pair_runs_its_second_whatever_the_first_got() {
        use std::io::{Read, Write};
        use std::os::unix::net::UnixStream;
        with_reactor(|r| async move {
            let (mut a0, a1) = UnixStream::pair().unwrap();
            let (b0, mut b1) = UnixStream::pair().unwrap();
            a1.set_nonblocking(true).unwrap();
            b0.set_nonblocking(true).unwrap();
            let flags = rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK;
            let (pr, pw) = rustix::pipe::pipe_with(flags).unwrap();
            let keep = |x: Arc<dyn Keep>| x;
            let (a1, b0) = (keep(Arc::new(a1)), keep(Arc::new(b0)));
            let (pr, pw) = (keep(Arc::new(pr)), keep(Arc::new(pw)));
            let pair = || {
                r.splice_hardlinked(
                    (a1.clone(), pw.clone(), 1 << 16),
                    (pr.clone(), b0.clone(), 1 << 16),
                    SpliceFlags::NONBLOCK,
                )
            };
            // Nothing to read: the first finds nothing, the second (an empty pipe) runs all
            // the same and finds nothing either.
            let (x, y) = pair();
            assert_eq!(
                (x.await.unwrap(), y.await.unwrap()),
                (-libc::EAGAIN, -libc::EAGAIN)
            );
            // 5000 bytes: the second moves on what the first put in.
            let sent: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
            a0.write_all(&sent).unwrap();
            let (x, y) = pair();
            assert_eq!((x.await.unwrap(), y.await.unwrap()), (5000, 5000));
            let mut got = vec![0u8; 5000];
            b1.read_exact(&mut got).unwrap();
            assert_eq!(got, sent);
        });
    }

    #[test]
    fn a_late_cancel_leaves_the_next_op_in_the_slot_alone() {
        with_reactor(|r| async move {
            let (a_rd, a_wr) = rustix::pipe::pipe().unwrap();
            let (b_rd, b_wr) = rustix::pipe::pipe().unwrap();
            let a = r.poll(Arc::new(a_rd), libc::POLLIN as u32);
            let OpState::Slot(slot) = a.state else {
                panic!("the poll was not submitted");
            };
            // A cancel aimed at `a`, as its drop would make it, that reaches the kernel late:
            // as one an enter left queued (EAGAIN) does, after the slot has found a new op.
            let late = r.lock().cancel_entry(slot);
            rustix::io::write(&a_wr, b"a").unwrap();
            assert_eq!(a.await.unwrap(), libc::POLLIN as i32);
            let b = r.poll(Arc::new(b_rd), libc::POLLIN as u32);
            assert!(
                matches!(b.state, OpState::Slot(s) if s == slot),
                "the slot is reused"
            );
            r.lock().push(&late).unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            rustix::io::write(&b_wr, b"b").unwrap();
            // Still armed: its result is the pipe's readiness, not ECANCELED.
            assert_eq!(b.await.unwrap(), libc::POLLIN as i32);
        });
    }
}
