//! One user-space copy of a round for all the outputs that take `write(2)`: read once, written
//! to each, as GNU tee does — but only for those outputs.

use std::io;
use std::os::fd::BorrowedFd;

use super::deliver::drop_bytes;
use super::input_error;
use crate::copy::{is_intr, refuses_splice};
use crate::error::{Error, Op};
use crate::kind::FdKind;
use crate::pipe::Pipe;
use crate::sys::{self, SpliceFlags};

#[derive(Default)]
pub(super) struct Shared {
    pipe: Option<Pipe>,
    buf: Vec<u8>,
    /// `tee` into the private pipe was refused: rounds are read out of the input from then on.
    tee_refused: bool,
}

fn err(op: Op, e: io::Error) -> Error {
    input_error(op, FdKind::Pipe, 0, e)
}

impl Shared {
    /// The first `n` bytes of the input pipe in memory: read straight out of it when
    /// `consume` (no output moves them out), else copied by `tee` into a private pipe first
    /// and read from there, leaving the input as it was. Returns whether the bytes were
    /// taken out of the input: also when `tee` is refused before its first byte (EINVAL,
    /// ENOSYS), after which the caller writes them to the output that would have moved them.
    pub(super) fn load(
        &mut self,
        input: BorrowedFd<'_>,
        n: usize,
        consume: bool,
    ) -> Result<(&[u8], bool), Error> {
        self.buf.resize(n.max(self.buf.len()), 0);
        if !(consume || self.tee_refused) {
            match self.load_by_tee(input, n) {
                Ok(()) => return Ok((&self.buf[..n], false)),
                // Refused tee, or no descriptor left for the private pipe (EMFILE, ENFILE,
                // the pipe quota): read the round out of the input instead.
                Err(e) if e.op() == Op::Tee && refuses_splice(e.io_error()) => {
                    self.tee_refused = true
                }
                Err(e) if e.op() == Op::Pipe => self.tee_refused = true,
                Err(e) => return Err(e),
            }
        }
        read_exact(input, &mut self.buf[..n])?;
        Ok((&self.buf[..n], true))
    }

    fn load_by_tee(&mut self, input: BorrowedFd<'_>, n: usize) -> Result<(), Error> {
        if self.pipe.is_none() {
            let mut p = Pipe::new().map_err(|e| err(Op::Pipe, e))?;
            // As many slots as the input, so one tee takes a whole round.
            p.try_resize(sys::pipe_capacity(input).unwrap_or(n));
            self.pipe = Some(p);
        }
        let p = self.pipe.as_ref().expect("created above");
        let mut have = 0;
        while have < n {
            // tee copies from the head of the input: take all of it again, drop what was
            // already read.
            let m = loop {
                match sys::tee(input, p.writer(), n, SpliceFlags::empty()) {
                    Ok(m) => break m,
                    Err(e) if is_intr(&e) => {}
                    Err(e) if have > 0 && refuses_splice(&e) => {
                        let e = io::Error::other(format!("tee refused after {have} bytes: {e}"));
                        return Err(err(Op::Read, e));
                    }
                    Err(e) => return Err(err(Op::Tee, e)),
                }
            };
            if m <= have {
                drop_bytes(p.reader(), m).map_err(|e| err(Op::Splice, e))?;
                let e = io::Error::other("tee made no progress into the shared pipe");
                return Err(err(Op::Tee, e));
            }
            drop_bytes(p.reader(), have).map_err(|e| err(Op::Splice, e))?;
            read_exact(p.reader(), &mut self.buf[have..m])?;
            have = m;
        }
        Ok(())
    }
}

fn read_exact(fd: BorrowedFd<'_>, mut buf: &mut [u8]) -> Result<(), Error> {
    while !buf.is_empty() {
        match sys::read(fd, buf, None) {
            Ok(0) => {
                let e = io::Error::new(io::ErrorKind::UnexpectedEof, "pipe ran dry");
                return Err(err(Op::Read, e));
            }
            Ok(k) => buf = &mut buf[k..],
            Err(e) if is_intr(&e) => {}
            Err(e) => return Err(err(Op::Read, e)),
        }
    }
    Ok(())
}
