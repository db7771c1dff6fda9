//! The fan-out's input: a pipe used as it is, or anything else spliced (or, where splice is
//! refused, read and written) into a broker pipe one round at a time.

use std::io;
use std::os::fd::BorrowedFd;

use super::deliver::drop_bytes;
use super::{info, input_error};
use crate::copy::{is_again, is_intr, refuses_splice, FilePages};
use crate::error::{Error, Op};
use crate::kind::FdKind;
use crate::pipe::Pipe;
use crate::ready::{wait_ready, Ready};
use crate::sys::{self, SpliceFlags};

pub(super) struct Input<'a> {
    fd: BorrowedFd<'a>,
    kind: FdKind,
    /// The broker pipe for a non-pipe input.
    broker: Option<Pipe>,
    /// The input refused splice: fill the broker with read/write.
    copy: Option<Vec<u8>>,
    /// Bytes taken from the input so far.
    pub(super) taken: u64,
    /// The most bytes one round takes (bounds the shared buffer).
    round: usize,
    /// A file input: how much of it may still be spliced (`None`: all), where it started and
    /// how much was spliced, for the settled tail and the truncation check.
    share_left: Option<u64>,
    start: u64,
    size: u64,
    spliced: u64,
}

impl<'a> Input<'a> {
    /// `pages` and `tail`: how a file input's pages may be shared, and how many bytes at its
    /// end must be copies for [`FilePages::Settle`] (the largest output pipe).
    pub(super) fn new(
        fd: BorrowedFd<'a>,
        size: usize,
        pages: FilePages,
        tail: u64,
    ) -> Result<Self, Error> {
        let fi = info(fd);
        let kind = fi.map_or(FdKind::Other, |i| i.kind);
        let err = |e| input_error(Op::Pipe, kind, 0, e);
        let file_size = fi.map_or(0, |i| i.size);
        let page_cache = matches!(kind, FdKind::File | FdKind::BlockDevice);
        let start = if page_cache {
            rustix::fs::seek(fd, rustix::fs::SeekFrom::Current(0))
                .map_err(|e| input_error(Op::Stat, kind, 0, e.into()))?
        } else {
            0
        };
        let share_left = match pages {
            _ if !page_cache => None,
            FilePages::Share => None,
            FilePages::Copy => Some(0),
            FilePages::Settle => Some(file_size.saturating_sub(start).saturating_sub(tail)),
        };
        let broker = if kind == FdKind::Pipe {
            // A bigger input pipe means fewer, larger rounds; refusal only costs speed. Only
            // a pipe at the kernel's default size is grown: the caller's choice stands.
            crate::pipe::grow_default(fd, size);
            None
        } else {
            let mut p = Pipe::new().map_err(err)?;
            p.try_resize(size);
            Some(p)
        };
        // A datagram would be cut by a short splice; read whole ones instead.
        let datagram = matches!(kind, FdKind::Socket(s) if s.is_datagram());
        let copy = datagram.then(|| vec![0u8; 256 << 10]);
        Ok(Input {
            fd,
            kind,
            broker,
            copy,
            taken: 0,
            round: size.max(64 << 10),
            share_left,
            start,
            size: file_size,
            spliced: 0,
        })
    }

    /// Whether the input is a pipe used as it is (no broker).
    pub(super) fn is_pipe(&self) -> bool {
        self.broker.is_none()
    }

    /// The input descriptor itself.
    pub(super) fn fd(&self) -> BorrowedFd<'a> {
        self.fd
    }

    /// The pipe the round's bytes sit in.
    pub(super) fn pipe(&self) -> BorrowedFd<'_> {
        match &self.broker {
            Some(p) => p.reader(),
            None => self.fd,
        }
    }

    fn err(&self, op: Op, e: io::Error) -> Error {
        input_error(op, self.kind, self.taken, e)
    }

    /// Waits for input and returns how many bytes this round has; `0` at end of input.
    pub(super) fn fill(&mut self) -> Result<usize, Error> {
        let n = match &self.broker {
            None => self.fill_pipe()?,
            Some(_) => self.fill_broker()?,
        };
        self.taken += n as u64;
        if n == 0 && self.spliced > 0 && self.size > 0 {
            self.check_not_truncated()?;
        }
        Ok(n)
    }

    /// At the end of a file input: it must still hold every byte spliced from it, or the
    /// outputs may have got bytes it never held (kernel-facts F19; see [`FilePages`]).
    fn check_not_truncated(&self) -> Result<(), Error> {
        crate::copy::check_holds(self.fd, self.start + self.spliced)
            .map_err(|e| self.err(crate::copy::check_op(&e), e))
    }

    fn fill_pipe(&self) -> Result<usize, Error> {
        let mut waited = false;
        loop {
            let n = sys::readable_bytes(self.fd).map_err(|e| self.err(Op::Stat, e))?;
            if n > 0 {
                return Ok((n as usize).min(self.round));
            }
            if waited {
                return Ok(0); // ready, yet empty: the writers are gone
            }
            // poll(2) returns with bytes queued or with the writers gone (POLLHUP).
            wait_ready(self.fd, Ready::Read).map_err(|e| self.err(Op::Poll, e))?;
            waited = true;
        }
    }

    fn fill_broker(&mut self) -> Result<usize, Error> {
        let broker = self.broker.as_ref().expect("non-pipe inputs have a broker");
        let (w, cap) = (broker.writer(), broker.capacity());
        loop {
            if let Some(buf) = self.copy.as_mut() {
                let want = buf.len().min(cap);
                let n = match sys::read(self.fd, &mut buf[..want], None) {
                    Ok(n) => n,
                    Err(e) if is_intr(&e) => continue,
                    Err(e) if is_again(&e) => {
                        wait_ready(self.fd, Ready::Read).map_err(|e| self.err(Op::Poll, e))?;
                        continue;
                    }
                    Err(e) => return Err(self.err(Op::Read, e)),
                };
                let mut done = 0;
                while done < n {
                    // The broker is empty at the start of a round and holds `cap` bytes.
                    match sys::write(w, &buf[done..n], None) {
                        Ok(k) => done += k,
                        Err(e) if is_intr(&e) => {}
                        Err(e) => return Err(self.err(Op::Write, e)),
                    }
                }
                return Ok(n);
            }
            let want = self.share_left.map_or(cap, |l| l.min(cap as u64) as usize);
            if want == 0 {
                // The settled tail (or a Copy input): our own pages from here on.
                self.copy = Some(vec![0u8; cap.min(1 << 20)]);
                continue;
            }
            match sys::splice(self.fd, None, w, None, want, SpliceFlags::MOVE) {
                Ok(n) => {
                    self.spliced += n as u64;
                    if let Some(l) = self.share_left.as_mut() {
                        *l -= n as u64;
                    }
                    return Ok(n);
                }
                Err(e) if is_intr(&e) => {}
                Err(e) if is_again(&e) => {
                    wait_ready(self.fd, Ready::Read).map_err(|e| self.err(Op::Poll, e))?
                }
                // This kind cannot be spliced from (a /proc file, a terminal on some
                // kernels): read it instead. Other errnos (EISDIR, EIO…) are the input's own.
                Err(e) if self.taken == 0 && refuses_splice(&e) => {
                    self.copy = Some(vec![0u8; cap.min(1 << 20)])
                }
                Err(e) => return Err(self.err(Op::Splice, e)),
            }
        }
    }

    /// Consumes `len` bytes of the round that no output moved out.
    pub(super) fn discard(&mut self, len: usize) -> Result<(), Error> {
        if len == 0 {
            return Ok(());
        }
        drop_bytes(self.pipe(), len).map_err(|e| self.err(Op::Splice, e))
    }
}
