//! One direction of the io_uring relay: socket → pooled pipe → socket as `IORING_OP_SPLICE`
//! entries with `SPLICE_F_NONBLOCK` on non-blocking sockets, tried first, and
//! `IORING_OP_POLL_ADD` to wait after an `EAGAIN` — the steps, byte accounting, half-close and
//! errors of the tokio relay's direction (`crate::tokio`), with up to two entries in flight:
//! one filling the pipe, one draining it. With both sockets ready and nothing in flight, the
//! two go as one submission, the drain hard-linked to the fill (`IOSQE_IO_HARDLINK`): it runs
//! once the fill completes, whatever the fill got, and moves out what the pipe then holds.

use std::future::Future;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::copy::refuses_splice;
use crate::error::{Error, Op as ErrOp, Side};
use crate::kind::FdKind;
use crate::pipe::{PipePool, PooledPipe};
use crate::sys::uring::reactor::{Keep, Op, Reactor};
use crate::sys::{self, SpliceFlags};
use crate::tokio::{Options, Path};

/// Bytes per read on the buffered path.
const BUF_SIZE: usize = 64 << 10;

/// Steps a direction takes in a row before yielding to the executor.
const BUDGET: usize = 32;

/// Every splice of a direction: never waits (sockets are non-blocking too), moves pages.
const FLAGS: SpliceFlags = SpliceFlags::NONBLOCK.union(SpliceFlags::MOVE);

const POLLIN: u32 = libc::POLLIN as u32;
const POLLOUT: u32 = libc::POLLOUT as u32;

/// A pooled pipe's write end, kept open by the `Arc` an op holds.
struct PipeIn(Arc<PooledPipe<'static>>);
/// Its read end.
struct PipeOut(Arc<PooledPipe<'static>>);

impl AsFd for PipeIn {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.writer()
    }
}

impl AsFd for PipeOut {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.reader()
    }
}

/// A system call's result in a completion's terms (bytes, or `-errno`), so the buffered
/// path's `read`/`write` go through the same handling as the ring's splices; `Err` stays for
/// what has no errno.
fn as_completion(r: io::Result<usize>) -> io::Result<i32> {
    match r {
        Ok(n) => Ok(i32::try_from(n).unwrap_or(i32::MAX)),
        Err(e) => e.raw_os_error().map(|c| -c).ok_or(e),
    }
}

/// The pipe a direction holds while bytes are in flight.
struct Broker {
    w: Arc<dyn Keep>,
    r: Arc<dyn Keep>,
    cap: usize,
}

/// What an op in flight is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Poll,
    Splice,
    /// A drain hard-linked to the fill before it: it ran whatever the fill got, so its
    /// `EAGAIN` on an empty pipe says nothing of the sink.
    Linked,
}

pub(super) struct Direction {
    reactor: Arc<Reactor>,
    src: Arc<dyn Keep>,
    dst: Arc<dyn Keep>,
    pool: &'static PipePool,
    size: usize,
    pipe: Option<Broker>,
    /// Bytes in the pipe (splice) or in `buf[start..start + pending]` (buffered).
    pending: usize,
    buf: Vec<u8>,
    start: usize,
    fill: Option<(Op, Kind)>,
    drain: Option<(Op, Kind)>,
    /// Whether to try the source (else wait for `POLLIN` first).
    in_ready: bool,
    out_ready: bool,
    /// `EAGAIN` reading while the pipe held bytes: its slots may be what is full, so the
    /// next read waits for the drain to take some out (no `POLLIN` wait: the socket may well
    /// be readable, and polling would spin).
    slots_full: bool,
    read_done: bool,
    pub(super) done: bool,
    pub(super) total: u64,
    pub(super) path: Path,
    src_kind: FdKind,
    dst_kind: FdKind,
}

impl Direction {
    pub(super) fn new(
        reactor: &Arc<Reactor>,
        src: &Arc<dyn Keep>,
        dst: &Arc<dyn Keep>,
        opts: &Options,
        kinds: (FdKind, FdKind),
    ) -> Self {
        Direction {
            reactor: reactor.clone(),
            src: src.clone(),
            dst: dst.clone(),
            pool: opts.pool,
            size: opts.pipe_size,
            pipe: None,
            pending: 0,
            buf: Vec::new(),
            start: 0,
            fill: None,
            drain: None,
            in_ready: true,
            out_ready: true,
            slots_full: false,
            read_done: false,
            done: false,
            total: 0,
            path: Path::Splice,
            src_kind: kinds.0,
            dst_kind: kinds.1,
        }
    }

    fn err(&self, op: ErrOp, side: Side, e: io::Error) -> Error {
        let (spliced, kinds) = (self.path == Path::Splice, (self.src_kind, self.dst_kind));
        Error::of_hop(spliced, op, kinds, side, self.total, e)
    }

    fn go_buffered(&mut self) {
        self.path = Path::Copy;
        self.buf = vec![0; BUF_SIZE];
    }

    fn wants_fill(&self) -> bool {
        !self.read_done
            && !self.slots_full
            && match self.path {
                Path::Splice => self.pipe.as_ref().is_none_or(|p| self.pending < p.cap),
                Path::Copy => self.pending == 0,
            }
    }

    /// Takes a pipe from the pool; with none to be had (EMFILE, ENFILE) the direction copies
    /// through a buffer from now on.
    fn take_pipe(&mut self) {
        match self.pool.take(self.size) {
            Ok(p) => {
                let cap = p.capacity();
                let p = Arc::new(p);
                self.pipe = Some(Broker {
                    w: Arc::new(PipeIn(p.clone())),
                    r: Arc::new(PipeOut(p)),
                    cap,
                });
            }
            Err(_) => self.go_buffered(),
        }
    }

    /// Starts the next read: a wait for `POLLIN`, a splice into the pipe, or (buffered) a
    /// `read(2)` done at once. `Ok(true)`: a buffered read was made (step again).
    fn start_fill(&mut self) -> Result<bool, Error> {
        if !self.in_ready {
            self.fill = Some((self.reactor.poll(self.src.clone(), POLLIN), Kind::Poll));
            return Ok(false);
        }
        if self.path == Path::Splice && self.pipe.is_none() {
            self.take_pipe();
        }
        match &self.pipe {
            Some(p) if self.path == Path::Splice => {
                let want = p.cap - self.pending;
                let op = self
                    .reactor
                    .splice(self.src.clone(), p.w.clone(), want, FLAGS);
                self.fill = Some((op, Kind::Splice));
                Ok(false)
            }
            _ => {
                let r = sys::read(self.src.as_fd(), &mut self.buf[..], None);
                // Whatever it gave (bytes, EOF, EAGAIN: wait for POLLIN, EINTR: again), the
                // caller steps again, starting the op that waits if one is needed.
                self.on_read(as_completion(r), Kind::Splice).map(|_| true)
            }
        }
    }

    /// Handles a read's result; `Ok(true)` when it made progress.
    fn on_read(&mut self, r: io::Result<i32>, kind: Kind) -> Result<bool, Error> {
        let r = match r {
            Ok(r) if r < 0 => Err(io::Error::from_raw_os_error(-r)),
            Ok(r) => Ok(r as usize),
            Err(e) => return Err(self.err(ErrOp::Poll, Side::Input, e)),
        };
        if kind == Kind::Poll {
            return match r {
                Ok(_) => {
                    self.in_ready = true;
                    Ok(true)
                }
                Err(e) => Err(self.err(ErrOp::Poll, Side::Input, e)),
            };
        }
        match r {
            Ok(0) => self.read_done = true,
            Ok(n) => self.pending += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.pending > 0 => {
                self.slots_full = true;
                return Ok(false);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // Nothing to read, nothing in flight: the pipe goes back to the pool (empty)
                // until the source is readable again.
                self.pipe = None;
                self.in_ready = false;
                return Ok(false);
            }
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => return Ok(false),
            // EINVAL, ENOSYS, EOPNOTSUPP before the first byte: this pair takes no splice.
            Err(e)
                if self.pending == 0
                    && self.total == 0
                    && self.path == Path::Splice
                    && refuses_splice(&e) =>
            {
                self.pipe = None;
                self.go_buffered();
                return Ok(true);
            }
            Err(e) => {
                let op = if self.path == Path::Splice {
                    ErrOp::Splice
                } else {
                    ErrOp::Read
                };
                return Err(self.err(op, Side::Input, e));
            }
        }
        Ok(true)
    }

    /// Starts the next write: a wait for `POLLOUT`, a splice out of the pipe, or (buffered)
    /// a `write(2)` done at once. `Ok(true)`: a buffered write was made (step again).
    fn start_drain(&mut self) -> Result<bool, Error> {
        if !self.out_ready {
            self.drain = Some((self.reactor.poll(self.dst.clone(), POLLOUT), Kind::Poll));
            return Ok(false);
        }
        match &self.pipe {
            Some(p) if self.path == Path::Splice => {
                let op = self
                    .reactor
                    .splice(p.r.clone(), self.dst.clone(), self.pending, FLAGS);
                self.drain = Some((op, Kind::Splice));
                Ok(false)
            }
            _ => {
                let data = &self.buf[self.start..self.start + self.pending];
                let r = sys::write(self.dst.as_fd(), data, None);
                self.on_write(as_completion(r), Kind::Splice).map(|_| true)
            }
        }
    }

    fn out_op(&self) -> ErrOp {
        if self.path == Path::Splice {
            ErrOp::Splice
        } else {
            ErrOp::Write
        }
    }

    fn on_write(&mut self, r: io::Result<i32>, kind: Kind) -> Result<bool, Error> {
        let r = match r {
            Ok(r) if r < 0 => Err(io::Error::from_raw_os_error(-r)),
            Ok(r) => Ok(r as usize),
            Err(e) => return Err(self.err(ErrOp::Poll, Side::Output, e)),
        };
        if kind == Kind::Poll {
            return match r {
                Ok(_) => {
                    self.out_ready = true;
                    Ok(true)
                }
                Err(e) => Err(self.err(ErrOp::Poll, Side::Output, e)),
            };
        }
        match r {
            Ok(0) => {
                let e = io::Error::new(io::ErrorKind::WriteZero, "the sink took no byte");
                Err(self.err(self.out_op(), Side::Output, e))
            }
            Ok(k) if k > self.pending => {
                let e = format!("moved {k} bytes out of a pipe holding {}", self.pending);
                Err(self.err(self.out_op(), Side::Output, io::Error::other(e)))
            }
            Ok(k) => {
                self.pending -= k;
                self.total += k as u64;
                self.slots_full = false;
                if self.path == Path::Copy {
                    self.start = if self.pending == 0 { 0 } else { self.start + k };
                }
                Ok(true)
            }
            // A linked drain found the pipe empty (the fill got nothing): no news of the sink.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && kind == Kind::Linked => {
                if self.pending > 0 {
                    self.out_ready = false;
                }
                Ok(false)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.out_ready = false;
                Ok(false)
            }
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => Ok(false),
            // A linked drain refused with nothing in the pipe (the fill got nothing, or
            // refused itself and the direction copies already): no byte to rescue.
            Err(e)
                if kind == Kind::Linked
                    && self.pending == 0
                    && self.total == 0
                    && refuses_splice(&e) =>
            {
                if self.path == Path::Splice {
                    self.pipe = None;
                    self.go_buffered();
                }
                Ok(true)
            }
            // Only with no fill in flight: a fill still running would add bytes to the pipe
            // after it was read out (they would be lost); then the refusal is the error.
            Err(e)
                if self.total == 0
                    && self.path == Path::Splice
                    && self.fill.is_none()
                    && self.pipe.is_some()
                    && refuses_splice(&e) =>
            {
                self.pipe_into_buffer()?;
                Ok(true)
            }
            Err(e) => Err(self.err(self.out_op(), Side::Output, e)),
        }
    }

    /// The sink refused splice with bytes in the pipe (no fill in flight: the caller checks):
    /// read them out and continue on the buffered path.
    fn pipe_into_buffer(&mut self) -> Result<(), Error> {
        let pipe = self.pipe.take().expect("splice path has a pipe");
        let n = self.pending;
        self.go_buffered();
        self.buf.resize(n.max(BUF_SIZE), 0);
        let got = crate::vmsplice::read_full(pipe.r.as_fd(), &mut self.buf[..n])?;
        if got < n {
            let e = io::Error::other(format!("broker pipe held {got} of {n} bytes"));
            return Err(self.err(ErrOp::Read, Side::Input, e));
        }
        self.start = 0;
        Ok(())
    }

    /// Moves data until the source ends and every byte read reached the sink, then shuts the
    /// sink down for writing. Returns the bytes delivered.
    pub(super) fn poll_copy(&mut self, cx: &mut Context<'_>) -> Poll<Result<u64, Error>> {
        for _ in 0..BUDGET {
            match self.step(cx) {
                Ok(true) => {}
                Ok(false) => return Poll::Pending,
                Err(e) => {
                    self.done = true;
                    return Poll::Ready(Err(e));
                }
            }
            if self.read_done && self.pending == 0 && self.fill.is_none() && self.drain.is_none() {
                self.done = true;
                self.pipe = None;
                return Poll::Ready(self.shutdown().map(|()| self.total));
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// With both ends ready, nothing in flight and room in the pipe: the fill and a drain of
    /// whatever the pipe then holds as one hard-linked submission (one enter, no wake-up
    /// between the two hops). Whether it started them.
    fn start_pair(&mut self) -> bool {
        if !(self.in_ready && self.out_ready && self.path == Path::Splice) {
            return false;
        }
        if self.pipe.is_none() {
            self.take_pipe();
        }
        let Some(p) = self.pipe.as_ref().filter(|_| self.path == Path::Splice) else {
            return false;
        };
        let (fill, drain) = self.reactor.splice_hardlinked(
            (self.src.clone(), p.w.clone(), p.cap - self.pending),
            (p.r.clone(), self.dst.clone(), p.cap),
            FLAGS,
        );
        self.fill = Some((fill, Kind::Splice));
        self.drain = Some((drain, Kind::Linked));
        true
    }

    /// Starts what can start, takes what completed; whether anything moved.
    fn step(&mut self, cx: &mut Context<'_>) -> Result<bool, Error> {
        let mut progress = false;
        // While a linked drain runs, no other fill: the drain takes whatever the pipe holds,
        // which must be only what the accounting knows of once its fill is reaped.
        let linked = matches!(self.drain, Some((_, Kind::Linked)));
        if self.fill.is_none() && self.drain.is_none() && self.wants_fill() && self.start_pair() {
            // Both started.
        } else if self.fill.is_none() && !linked && self.wants_fill() {
            progress |= self.start_fill()?;
        }
        if self.drain.is_none() && self.pending > 0 {
            progress |= self.start_drain()?;
        }
        if let Some((op, kind)) = self.fill.as_mut() {
            if let Poll::Ready(r) = Pin::new(op).poll(cx) {
                let kind = *kind;
                self.fill = None;
                self.on_read(r, kind)?;
                progress = true;
            }
        }
        // A linked drain's result only after its fill's: it may carry bytes the fill put in
        // (the kernel posts the fill's first, but a completion may be reaped between the two
        // polls here, or a chain split by the kernel run its halves apart).
        let fill_pending = self.fill.is_some();
        if let Some((op, kind)) = self
            .drain
            .as_mut()
            .filter(|(_, k)| *k != Kind::Linked || !fill_pending)
        {
            if let Poll::Ready(r) = Pin::new(op).poll(cx) {
                let kind = *kind;
                self.drain = None;
                self.on_write(r, kind)?;
                progress = true;
            }
        }
        Ok(progress)
    }

    fn shutdown(&self) -> Result<(), Error> {
        match rustix::net::shutdown(self.dst.as_fd(), rustix::net::Shutdown::Write) {
            Ok(()) | Err(rustix::io::Errno::NOTCONN) => Ok(()),
            Err(e) => Err(self.err(ErrOp::Shutdown, Side::Output, e.into())),
        }
    }

    /// Cancels the ops in flight; [`Direction::poll_settled`] then waits for the kernel to
    /// let go of them.
    pub(super) fn cancel(&mut self) {
        for (op, _) in [self.fill.as_mut(), self.drain.as_mut()]
            .into_iter()
            .flatten()
        {
            op.cancel();
        }
    }

    pub(super) fn poll_settled(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        for slot in [&mut self.fill, &mut self.drain] {
            if let Some((op, _)) = slot.as_mut() {
                if Pin::new(op).poll(cx).is_ready() {
                    *slot = None;
                }
            }
        }
        if self.fill.is_none() && self.drain.is_none() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}
