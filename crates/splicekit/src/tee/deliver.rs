//! One output of a fan-out: how it receives a round's bytes, and its state.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use super::{info, OutputPath, OutputReport};
use crate::copy::calls::{splice_on, tee_on};
use crate::copy::{is_again, is_intr, refuses_splice, Backend};
use crate::error::{Error, Op, Side};
use crate::kind::FdKind;
use crate::pipe::Pipe;
use crate::ready::{wait_ready, Ready};
use crate::sys::{self, SpliceFlags};

pub(super) struct Out<'a> {
    fd: BorrowedFd<'a>,
    /// What runs this output's `tee` and `splice` calls.
    backend: Backend,
    kind: FdKind,
    path: OutputPath,
    size: usize,
    /// The private pipe a non-pipe output is fed from.
    own: Option<Pipe>,
    /// A pipe for delivering the tail of a round that a short `tee` left behind.
    scratch: Option<Pipe>,
    bytes: u64,
    error: Option<Error>,
}

/// The most bytes one `write` takes on the copying path.
const WRITE_MAX: usize = 128 << 10;

impl<'a> Out<'a> {
    pub(super) fn new(
        fd: BorrowedFd<'a>,
        size: usize,
        resize: bool,
        splice_files: bool,
        backend: Backend,
    ) -> Self {
        let fi = info(fd);
        let kind = fi.map_or(FdKind::Other, |i| i.kind);
        let path = match fi {
            Some(i) if i.kind == FdKind::Pipe => {
                if resize {
                    // Only a pipe at the kernel's default size: the caller's choice stands.
                    crate::pipe::grow_default(fd, size);
                }
                OutputPath::Tee
            }
            Some(i) if i.append => OutputPath::Copy, // splice refuses O_APPEND (kernel-facts B32)
            Some(i) => match i.kind {
                FdKind::File if !splice_files => OutputPath::Copy,
                FdKind::File | FdKind::CharDevice | FdKind::BlockDevice => OutputPath::TeeSplice,
                FdKind::Socket(s) if !s.is_datagram() => OutputPath::TeeSplice,
                _ => OutputPath::Copy,
            },
            None => OutputPath::Copy,
        };
        Out {
            fd,
            backend,
            kind,
            path,
            size,
            own: None,
            scratch: None,
            bytes: 0,
            error: None,
        }
    }

    /// The bytes at the end of a file input that must reach this output as copies for no
    /// page of the file to be left in it: a pipe's capacity; everything for a socket, whose
    /// queues are not bounded that way; nothing for outputs that get copies or keep none.
    pub(super) fn settle_tail(&self) -> u64 {
        match self.path {
            OutputPath::Tee => sys::pipe_capacity(self.fd).map_or(u64::MAX, |c| c as u64),
            OutputPath::TeeSplice if self.kind.is_socket() => u64::MAX,
            _ => 0,
        }
    }

    /// The output descriptor, when it is a pipe (whose reader leaving `poll` reports).
    pub(super) fn pipe_fd(&self) -> Option<BorrowedFd<'a>> {
        (self.kind == FdKind::Pipe).then_some(self.fd)
    }

    /// The error for an output pipe whose readers are gone, as a write would have seen it.
    pub(super) fn hung_up(&self) -> Error {
        self.err(Op::Poll, io::Error::from_raw_os_error(libc::EPIPE))
    }

    pub(super) fn live(&self) -> bool {
        self.error.is_none()
    }

    /// Whether a `splice` from the input may move the bytes into this output directly.
    pub(super) fn can_consume(&self) -> bool {
        self.path != OutputPath::Copy
    }

    /// Whether this output takes its bytes by `write(2)`.
    pub(super) fn is_copy(&self) -> bool {
        self.path == OutputPath::Copy
    }

    pub(super) fn detach(&mut self, e: Error) {
        self.error = Some(e);
    }

    pub(super) fn into_report(self) -> OutputReport {
        OutputReport {
            bytes: self.bytes,
            path: self.path,
            error: self.error,
        }
    }

    fn err(&self, op: Op, e: io::Error) -> Error {
        Error::new(op, FdKind::Pipe, self.kind, Side::Output, self.bytes, e)
    }

    /// Takes the pipe out of `slot`, creating it (sized `size`) on first use; put it back
    /// after use.
    fn take_pipe(slot: &mut Option<Pipe>, size: usize) -> io::Result<Pipe> {
        match slot.take() {
            Some(p) => Ok(p),
            None => {
                let mut p = Pipe::new()?;
                p.try_resize(size);
                Ok(p)
            }
        }
    }

    /// Gives this output a copy of the first `n` bytes of `input`, leaving them there.
    /// Called before the round's shared copy is written: an output whose first `tee` is
    /// refused joins the outputs written from that copy, this round included.
    pub(super) fn deliver_copy(&mut self, input: BorrowedFd<'_>, n: usize) -> Result<(), Error> {
        let k = if self.path == OutputPath::Tee {
            let k = match self.tee_into(input, self.fd, n) {
                Err(e) if self.bytes == 0 && refuses_splice(e.io_error()) => {
                    self.path = OutputPath::Copy;
                    return Ok(());
                }
                r => r?,
            };
            self.bytes += k as u64;
            k
        } else {
            let own = match Self::take_pipe(&mut self.own, self.size) {
                Ok(p) => p,
                // No descriptor left for a private pipe: this output joins the ones written
                // from the round's shared copy (nothing of this round reached it yet).
                Err(e) if out_of_descriptors(&e) => {
                    self.path = OutputPath::Copy;
                    return Ok(());
                }
                Err(e) => return Err(self.err(Op::Pipe, e)),
            };
            let r = self.tee_into(input, own.writer(), n);
            let r = match r {
                Err(e) if self.bytes == 0 && refuses_splice(e.io_error()) => {
                    self.path = OutputPath::Copy;
                    self.own = Some(own);
                    return Ok(());
                }
                r => r.and_then(|k| self.drain(own.reader(), k).map(|()| k)),
            };
            self.own = Some(own);
            r?
        };
        if k < n {
            self.catch_up(input, k, n)?;
        }
        Ok(())
    }

    /// Moves the first `n` bytes of `input` into this output (consuming them). On failure,
    /// returns how many were moved (and so consumed) with the error.
    pub(super) fn deliver_move(
        &mut self,
        input: BorrowedFd<'_>,
        n: usize,
    ) -> Result<u64, (u64, Error)> {
        let mut moved = 0;
        while moved < n {
            match splice_on(self.backend, input, self.fd, n - moved, SpliceFlags::MOVE) {
                Ok(0) => {
                    let e = io::Error::new(io::ErrorKind::UnexpectedEof, "input pipe ran dry");
                    return Err((moved as u64, self.err(Op::Splice, e)));
                }
                Ok(k) => {
                    moved += k;
                    self.bytes += k as u64;
                }
                Err(e) if is_intr(&e) => {}
                Err(e) if is_again(&e) => self.wait().map_err(|e| (moved as u64, e))?,
                Err(e) if moved == 0 && self.bytes == 0 && refuses_splice(&e) => {
                    // This kind takes no splice: read/write from now on, this round's bytes
                    // read straight out of the input (this output is the one consuming it).
                    self.path = OutputPath::Copy;
                    return self.copy_out(input, n).map(|()| n as u64);
                }
                Err(e) => return Err((moved as u64, self.err(Op::Splice, e))),
            }
        }
        Ok(moved as u64)
    }

    /// The one-output path: one `splice(2)` of up to `max` bytes straight from the input pipe
    /// into this output pipe, as `cat` would; returns the bytes moved, 0 at the end of input.
    pub(super) fn pass(&mut self, input: BorrowedFd<'_>, max: usize) -> Result<usize, Error> {
        loop {
            match splice_on(self.backend, input, self.fd, max, SpliceFlags::MOVE) {
                Ok(k) => {
                    self.bytes += k as u64;
                    return Ok(k);
                }
                Err(e) if is_intr(&e) => {}
                Err(e) if is_again(&e) => {
                    // A non-blocking end: wait on the side that cannot go on.
                    if !crate::ready::is_ready(self.fd, Ready::Write) {
                        self.wait()?;
                    } else {
                        wait_ready(input, Ready::Read).map_err(|e| self.err(Op::Poll, e))?;
                    }
                }
                Err(e) => return Err(self.err(Op::Splice, e)),
            }
        }
    }

    /// Whether this output takes its bytes by `tee` straight into its pipe.
    pub(super) fn is_tee(&self) -> bool {
        self.path == OutputPath::Tee
    }

    /// `tee(2)` of up to `n` bytes from `input` into `dst`, retrying EINTR and waiting on
    /// EAGAIN; returns at least one byte.
    fn tee_into(
        &self,
        input: BorrowedFd<'_>,
        dst: BorrowedFd<'_>,
        n: usize,
    ) -> Result<usize, Error> {
        loop {
            match tee_on(self.backend, input, dst, n, SpliceFlags::empty()) {
                Ok(0) => {
                    let e = io::Error::new(io::ErrorKind::UnexpectedEof, "input pipe ran dry");
                    return Err(self.err(Op::Tee, e));
                }
                Ok(k) => return Ok(k),
                Err(e) if is_intr(&e) => {}
                Err(e) if is_again(&e) => {
                    wait_ready(dst, Ready::Write).map_err(|e| self.err(Op::Poll, e))?
                }
                Err(e) => return Err(self.err(Op::Tee, e)),
            }
        }
    }

    fn wait(&self) -> Result<(), Error> {
        wait_ready(self.fd, Ready::Write).map_err(|e| self.err(Op::Poll, e))
    }

    /// A short `tee` (the output's pipe was nearly full) left bytes `[k, n)` undelivered;
    /// `tee` always starts at the head of the input, so copy the whole round into the
    /// scratch pipe, drop the first `k` bytes there, and pass the rest on.
    fn catch_up(&mut self, input: BorrowedFd<'_>, k: usize, n: usize) -> Result<(), Error> {
        let size = self.size.max(n);
        let scratch =
            Self::take_pipe(&mut self.scratch, size).map_err(|e| self.err(Op::Pipe, e))?;
        let r = self.catch_up_via(&scratch, input, k, n);
        self.scratch = Some(scratch);
        r
    }

    fn catch_up_via(
        &mut self,
        scratch: &Pipe,
        input: BorrowedFd<'_>,
        mut k: usize,
        n: usize,
    ) -> Result<(), Error> {
        let r = scratch.reader();
        while k < n {
            let m = self.tee_into(input, scratch.writer(), n)?;
            if m <= k {
                drop_bytes(r, m).map_err(|e| self.err(Op::Splice, e))?;
                let e = io::Error::other("scratch pipe too small to catch up a short tee");
                return Err(self.err(Op::Tee, e));
            }
            drop_bytes(r, k).map_err(|e| self.err(Op::Splice, e))?;
            self.drain(r, m - k)?;
            k = m;
        }
        Ok(())
    }

    /// Passes `len` bytes sitting in `pipe_r` (one of this output's pipes) on to the output:
    /// splice, or read/write once the output has refused splice.
    fn drain(&mut self, pipe_r: BorrowedFd<'_>, mut len: usize) -> Result<(), Error> {
        while len > 0 && self.path != OutputPath::Copy {
            match splice_on(self.backend, pipe_r, self.fd, len, SpliceFlags::MOVE) {
                Ok(0) => {
                    let e = io::Error::new(io::ErrorKind::WriteZero, "splice moved nothing");
                    return Err(self.err(Op::Splice, e));
                }
                Ok(k) => {
                    len -= k;
                    self.bytes += k as u64;
                }
                Err(e) if is_intr(&e) => {}
                Err(e) if is_again(&e) => self.wait()?,
                Err(e) if self.bytes == 0 && refuses_splice(&e) => self.path = OutputPath::Copy,
                Err(e) => return Err(self.err(Op::Splice, e)),
            }
        }
        self.copy_out(pipe_r, len).map_err(|(_, e)| e)
    }

    /// Reads `len` bytes out of `pipe_r` and writes them to the output; on failure, returns
    /// how many bytes were taken out of `pipe_r` with the error.
    fn copy_out(&mut self, pipe_r: BorrowedFd<'_>, len: usize) -> Result<(), (u64, Error)> {
        let mut buf = vec![0u8; len.min(64 << 10)];
        let mut taken = 0;
        while taken < len {
            let want = (len - taken).min(buf.len());
            let got = loop {
                match sys::read(pipe_r, &mut buf[..want], None) {
                    Ok(g) => break g,
                    Err(e) if is_intr(&e) => {}
                    Err(e) => return Err((taken as u64, self.err(Op::Read, e))),
                }
            };
            if got == 0 {
                let e = io::Error::new(io::ErrorKind::UnexpectedEof, "pipe ran dry");
                return Err((taken as u64, self.err(Op::Read, e)));
            }
            taken += got;
            self.write_all(&buf[..got]).map_err(|e| (taken as u64, e))?;
        }
        Ok(())
    }

    pub(super) fn write_all(&mut self, mut data: &[u8]) -> Result<(), Error> {
        while !data.is_empty() {
            // At most 128 KiB per call: 1 MiB writes into ext4 files ran 6x slower on some runs.
            let piece = &data[..data.len().min(WRITE_MAX)];
            match sys::write(self.fd, piece, None) {
                Ok(0) => {
                    let e = io::Error::new(io::ErrorKind::WriteZero, "write returned 0");
                    return Err(self.err(Op::Write, e));
                }
                Ok(k) => {
                    data = &data[k..];
                    self.bytes += k as u64;
                }
                Err(e) if is_intr(&e) => {}
                Err(e) if is_again(&e) => self.wait()?,
                Err(e) => return Err(self.err(Op::Write, e)),
            }
        }
        Ok(())
    }
}

/// `EMFILE` or `ENFILE`: no descriptor left.
pub(super) fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// Consumes `len` bytes from a pipe into /dev/null (read away when /dev/null cannot be
/// opened for want of a descriptor).
pub(super) fn drop_bytes(pipe_r: BorrowedFd<'_>, mut len: usize) -> io::Result<()> {
    let null = match dev_null() {
        Ok(f) => f,
        Err(e) if out_of_descriptors(&e) => return read_away(pipe_r, len),
        Err(e) => return Err(e),
    };
    while len > 0 {
        match sys::splice(pipe_r, None, null.as_fd(), None, len, SpliceFlags::MOVE) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "pipe ran dry")),
            Ok(k) => len -= k,
            Err(e) if is_intr(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn read_away(pipe_r: BorrowedFd<'_>, mut len: usize) -> io::Result<()> {
    let mut buf = vec![0u8; len.min(64 << 10)];
    while len > 0 {
        let want = len.min(buf.len());
        match sys::read(pipe_r, &mut buf[..want], None) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "pipe ran dry")),
            Ok(k) => len -= k,
            Err(e) if is_intr(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn dev_null() -> io::Result<&'static std::fs::File> {
    static NULL: std::sync::OnceLock<std::fs::File> = std::sync::OnceLock::new();
    if let Some(f) = NULL.get() {
        return Ok(f);
    }
    let f = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
    Ok(NULL.get_or_init(|| f))
}
