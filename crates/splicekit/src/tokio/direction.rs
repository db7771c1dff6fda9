//! One direction of a relay: socket → broker pipe → socket with `SPLICE_F_NONBLOCK`, or a
//! buffered read/write copy once the kernel refuses splice for the pair.

use std::io;
use std::task::{ready, Context, Poll};

use ::tokio::io::Interest;

use super::{Path, SpliceRead, SpliceWrite};
use crate::copy::{is_intr, refuses_splice};
use crate::error::{Error, Op, Side};
use crate::kind::FdKind;
use crate::pipe::{PipePool, PooledPipe};
use crate::sys::{self, SpliceFlags};

/// Bytes per read on the buffered path.
const BUF_SIZE: usize = 64 << 10;

/// Polls a direction this many times in a row with progress, then yields to the executor so
/// a fast direction does not starve other tasks on the thread.
const BUDGET: usize = 32;

/// What one attempt to fill the pipe (or buffer) gave.
enum Fill {
    Bytes,
    Eof,
    /// `EAGAIN` with bytes already in the pipe: the pipe's slots may be what is full, not the
    /// socket that is empty, so read readiness is kept (clearing it could lose the edge).
    SlotsFull,
}

pub(super) struct Direction {
    /// The broker pipe, held only while bytes are in flight: taken from `pool` when the
    /// source turns readable, given back once it is empty and the source would block, so an
    /// idle connection holds no pipe.
    pipe: Option<PooledPipe<'static>>,
    pool: &'static PipePool,
    size: usize,
    /// Bytes in the pipe (splice) or in `buf[start..start + pending]` (buffered).
    pending: usize,
    /// The pipe's capacity (splice path).
    cap: usize,
    buf: Vec<u8>,
    start: usize,
    read_done: bool,
    done: bool,
    /// Bytes that reached the sink.
    pub(super) total: u64,
    pub(super) path: Path,
    src: FdKind,
    dst: FdKind,
}

impl Direction {
    pub(super) fn new(pool: &'static PipePool, size: usize, src: FdKind, dst: FdKind) -> Self {
        Direction {
            pipe: None,
            pool,
            size,
            pending: 0,
            cap: 0,
            buf: Vec::new(),
            start: 0,
            read_done: false,
            done: false,
            total: 0,
            path: Path::Splice,
            src,
            dst,
        }
    }

    /// Takes a pipe for the bytes about to come; with none to be had (EMFILE, ENFILE), this
    /// connection copies through a buffer from now on.
    fn take_pipe(&mut self) {
        match self.pool.take(self.size) {
            Ok(p) => {
                self.cap = p.capacity();
                self.pipe = Some(p);
            }
            Err(_) => self.go_buffered(),
        }
    }

    pub(super) fn is_done(&self) -> bool {
        self.done
    }

    fn err(&self, op: Op, side: Side, e: io::Error) -> Error {
        let spliced = self.path == Path::Splice;
        Error::of_hop(spliced, op, (self.src, self.dst), side, self.total, e)
    }

    fn go_buffered(&mut self) {
        self.path = Path::Copy;
        self.buf = vec![0; BUF_SIZE];
    }

    /// Whether to read more: the pipe has room, or the buffer has been written out (it is
    /// refilled from its start, so nothing is ever moved within it).
    fn wants_fill(&self) -> bool {
        !self.read_done
            && match self.path {
                Path::Splice => self.pipe.is_none() || self.pending < self.cap,
                Path::Copy => self.pending == 0,
            }
    }

    /// Moves data from `r` to `w` until `r` ends and everything read reached `w`, then shuts
    /// down `w`'s write half. Returns the bytes delivered; on error, the bytes in flight (in
    /// the pipe or buffer) are dropped with it and the pipe is closed, not pooled.
    pub(super) fn poll_copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        r: &R,
        w: &W,
    ) -> Poll<Result<u64, Error>>
    where
        R: SpliceRead + ?Sized,
        W: SpliceWrite + ?Sized,
    {
        for _ in 0..BUDGET {
            let mut progress = false;
            if self.wants_fill() {
                match self.poll_fill(cx, r) {
                    Poll::Ready(Ok(Fill::Bytes)) => progress = true,
                    Poll::Ready(Ok(Fill::Eof)) => {
                        self.read_done = true;
                        progress = true;
                    }
                    Poll::Ready(Ok(Fill::SlotsFull)) | Poll::Pending => {}
                    Poll::Ready(Err(e)) => return self.fail(e),
                }
            }
            if self.pending > 0 {
                match self.poll_drain(cx, w) {
                    Poll::Ready(Ok(())) => progress = true,
                    Poll::Pending => {}
                    Poll::Ready(Err(e)) => return self.fail(e),
                }
            }
            if self.read_done && self.pending == 0 {
                self.done = true;
                return Poll::Ready(self.shutdown(w).map(|()| self.total));
            }
            if !progress {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn fail(&mut self, e: Error) -> Poll<Result<u64, Error>> {
        self.done = true;
        if let Some(p) = self.pipe.as_mut() {
            if self.pending > 0 {
                p.mark_dirty();
            }
        }
        Poll::Ready(Err(e))
    }

    /// Passes the EOF on: `shutdown(SHUT_WR)` on the sink. A peer that already went away
    /// (ENOTCONN) has nothing left to be told.
    fn shutdown<W: SpliceWrite + ?Sized>(&self, w: &W) -> Result<(), Error> {
        match rustix::net::shutdown(w.splice_fd(), rustix::net::Shutdown::Write) {
            Ok(()) | Err(rustix::io::Errno::NOTCONN) => Ok(()),
            Err(e) => Err(self.err(Op::Shutdown, Side::Output, e.into())),
        }
    }

    fn poll_fill<R: SpliceRead + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        r: &R,
    ) -> Poll<Result<Fill, Error>> {
        loop {
            ready!(r.poll_ready(cx, Interest::READABLE))
                .map_err(|e| self.err(Op::Poll, Side::Input, e))?;
            if self.path == Path::Splice && self.pipe.is_none() {
                self.take_pipe();
            }
            let res = match &self.pipe {
                Some(p) if self.path == Path::Splice => {
                    let (want, pending) = (self.cap - self.pending, self.pending);
                    r.try_io(Interest::READABLE, || {
                        let flags = SpliceFlags::NONBLOCK | SpliceFlags::MOVE;
                        match sys::splice(r.splice_fd(), None, p.writer(), None, want, flags) {
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock && pending > 0 => {
                                Ok(None)
                            }
                            res => res.map(Some),
                        }
                    })
                }
                _ => {
                    let (buf, fd) = (&mut self.buf[..], r.splice_fd());
                    r.try_io(Interest::READABLE, || sys::read(fd, buf, None).map(Some))
                }
            };
            match res {
                Ok(Some(0)) => return Poll::Ready(Ok(Fill::Eof)),
                Ok(Some(n)) => {
                    self.pending += n; // on the buffered path, into an empty buffer
                    return Poll::Ready(Ok(Fill::Bytes));
                }
                Ok(None) => return Poll::Ready(Ok(Fill::SlotsFull)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.pending == 0 => {
                    // Nothing to read and nothing in flight: the pipe goes back to the pool
                    // (empty, so reusable) until the source is readable again.
                    self.pipe = None;
                    self.cap = 0;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock || is_intr(&e) => {}
                // EINVAL, ENOSYS, EOPNOTSUPP before the first byte: this pair takes no
                // splice; the connection copies through a buffer from now on.
                Err(e)
                    if self.pending == 0
                        && self.total == 0
                        && self.path == Path::Splice
                        && refuses_splice(&e) =>
                {
                    self.pipe = None;
                    self.go_buffered();
                }
                Err(e) => {
                    let op = if self.path == Path::Splice {
                        Op::Splice
                    } else {
                        Op::Read
                    };
                    return Poll::Ready(Err(self.err(op, Side::Input, e)));
                }
            }
        }
    }

    fn poll_drain<W: SpliceWrite + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        w: &W,
    ) -> Poll<Result<(), Error>> {
        loop {
            ready!(w.poll_ready(cx, Interest::WRITABLE))
                .map_err(|e| self.err(Op::Poll, Side::Output, e))?;
            let n = self.pending;
            let res = match &self.pipe {
                Some(p) if self.path == Path::Splice => w.try_io(Interest::WRITABLE, || {
                    let flags = SpliceFlags::NONBLOCK | SpliceFlags::MOVE;
                    sys::splice(p.reader(), None, w.splice_fd(), None, n, flags)
                }),
                _ => {
                    let data = &self.buf[self.start..self.start + n];
                    w.try_io(Interest::WRITABLE, || sys::write(w.splice_fd(), data, None))
                }
            };
            match res {
                Ok(0) => {
                    let e = io::Error::new(io::ErrorKind::WriteZero, "the sink took no byte");
                    return Poll::Ready(Err(self.err(self.out_op(), Side::Output, e)));
                }
                Ok(k) => {
                    self.pending -= k;
                    self.total += k as u64;
                    if self.path == Path::Copy {
                        self.start = if self.pending == 0 { 0 } else { self.start + k };
                    }
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock || is_intr(&e) => {}
                Err(e) if self.total == 0 && self.path == Path::Splice && refuses_splice(&e) => {
                    self.take_pipe_into_buffer()?;
                }
                Err(e) => return Poll::Ready(Err(self.err(self.out_op(), Side::Output, e))),
            }
        }
    }

    fn out_op(&self) -> Op {
        if self.path == Path::Splice {
            Op::Splice
        } else {
            Op::Write
        }
    }

    /// The sink refused splice with bytes already in the pipe: read them out (they are
    /// there, so the read cannot block) and continue on the buffered path.
    fn take_pipe_into_buffer(&mut self) -> Result<(), Error> {
        let pipe = self.pipe.take().expect("splice path has a pipe");
        let n = self.pending;
        self.go_buffered();
        self.buf.resize(n.max(BUF_SIZE), 0);
        let got = crate::vmsplice::read_full(pipe.reader(), &mut self.buf[..n])?;
        if got < n {
            let e = io::Error::other(format!("broker pipe held {got} of {n} bytes"));
            return Err(self.err(Op::Read, Side::Input, e));
        }
        self.start = 0;
        Ok(())
    }
}
