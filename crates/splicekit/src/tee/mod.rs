//! [`FanOut`]: one input stream duplicated into N outputs with `tee(2)` and `splice(2)`,
//! without reading the bytes into user space where the descriptors allow it.
//!
//! Each round takes what the input pipe holds (a non-pipe input is first spliced into a
//! broker pipe) and gives every output exactly those bytes, in order:
//!
//! * a pipe output gets them by `tee` (references, no copy);
//! * a socket or device gets them by `tee` into its own private pipe, then `splice`;
//! * regular files, and outputs that refuse splice (an `O_APPEND` file, a terminal, a
//!   datagram socket), share one copy of the round in memory and get it by `write` (files
//!   can opt in to splice: [`FanOut::splice_files`]);
//! * the last output that can take a splice *moves* the bytes out of the input pipe, which
//!   consumes them; if none can, they are spliced to `/dev/null`.
//!
//! Rounds are bounded by the pipe capacity, so a slow output holds the others back and memory
//! stays bounded. When an output fails, a callback decides: detach it and go on, or stop.
//!
//! ```
//! use std::io::{Read, Write};
//! use splicekit::{FanOut, Pipe};
//! let (in_r, in_w) = Pipe::new()?.into_ends();
//! let (a_r, a_w) = Pipe::new()?.into_ends();
//! let file = tempfile::tempfile()?;
//! std::fs::File::from(in_w).write_all(b"same bytes everywhere")?; // then closed: EOF
//! let report = FanOut::new().output(&a_w).output(&file).run(&in_r)?;
//! assert_eq!(report.bytes_in, 21);
//! drop(a_w);
//! let mut got = String::new();
//! std::fs::File::from(a_r).read_to_string(&mut got)?;
//! assert_eq!(got, "same bytes everywhere");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::os::fd::{AsFd, BorrowedFd};

use crate::copy::{refuses_splice, Backend, FilePages};
use crate::error::{Error, Op, Side};
use crate::kind::{FdInfo, FdKind};

mod deliver;
mod input;
mod shared;

use deliver::Out;
use input::Input;
use shared::Shared;

/// How an output receives its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputPath {
    /// `tee(2)` straight into the output pipe.
    Tee,
    /// `tee(2)` into a private pipe, then `splice(2)` into the output.
    TeeSplice,
    /// `write(2)` from one in-memory copy of the round shared by every such output (regular
    /// files by default, and outputs that refuse splice).
    Copy,
}

impl fmt::Display for OutputPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutputPath::Tee => "tee",
            OutputPath::TeeSplice => "tee+splice",
            OutputPath::Copy => "write",
        })
    }
}

/// What to do when an output fails: the answer of [`FanOut::run_with`]'s callback (see the
/// [`FanOut`] example).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Stop writing to that output; the others go on.
    Detach,
    /// Stop everything: [`FanOut::run_with`] returns the error.
    Stop,
}

/// One output's outcome.
#[derive(Debug)]
pub struct OutputReport {
    /// Bytes delivered to it (all of the input unless it failed).
    pub bytes: u64,
    /// How it received them (the last path used).
    pub path: OutputPath,
    /// Why it was detached, if it was.
    pub error: Option<Error>,
}

/// The outcome of a run.
#[derive(Debug)]
pub struct FanReport {
    /// Bytes taken from the input.
    pub bytes_in: u64,
    /// Per output, in the order they were added.
    pub outputs: Vec<OutputReport>,
}

/// The error of a stopped run: the error, which output it came from (`None`: the input), and
/// the report up to that point.
#[derive(Debug)]
pub struct FanError {
    /// What failed.
    pub error: Error,
    /// The index of the output that failed, or `None` when reading the input failed.
    pub output: Option<usize>,
    /// Bytes taken and delivered before the stop.
    pub report: FanReport,
}

impl fmt::Display for FanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.output {
            Some(i) => write!(f, "output {i}: {}", self.error),
            None => write!(f, "input: {}", self.error),
        }
    }
}

impl std::error::Error for FanError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<FanError> for std::io::Error {
    fn from(e: FanError) -> std::io::Error {
        e.error.into()
    }
}

/// Duplicates one input into several outputs (see the [module docs](self)).
///
/// Built with [`FanOut::new`] and its builder methods; [`run`](Self::run) stops at the first
/// failing output, [`run_with`](Self::run_with) lets a callback detach it instead:
///
/// ```
/// use std::io::{Read, Write};
/// use splicekit::{Action, FanOut, OutputPath, Pipe};
/// let (in_r, in_w) = Pipe::new()?.into_ends();
/// let (gone_r, gone_w) = Pipe::new()?.into_ends();
/// drop(gone_r); // this output's reader has left: writing to it fails with EPIPE
/// let (ok_r, ok_w) = Pipe::new()?.into_ends();
/// std::fs::File::from(in_w).write_all(b"for whoever listens")?;
/// let report = FanOut::new()
///     .output(&gone_w)
///     .output(&ok_w)
///     .run_with(&in_r, |i, e| {
///         assert_eq!((i, e.is_broken_pipe()), (0, true));
///         Action::Detach // the other output goes on
///     })?;
/// assert!(report.outputs[0].error.is_some());
/// assert_eq!(report.outputs[1].bytes, 19);
/// assert_eq!(report.outputs[1].path, OutputPath::Tee);
/// drop(ok_w);
/// let mut got = String::new();
/// std::fs::File::from(ok_r).read_to_string(&mut got)?;
/// assert_eq!(got, "for whoever listens");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FanOut<'a> {
    outputs: Vec<BorrowedFd<'a>>,
    pipe_size: usize,
    resize_outputs: bool,
    splice_files: bool,
    file_pages: FilePages,
    watch_outputs: bool,
    progress: Option<&'a dyn Fn(u64)>,
    backend: Backend,
}

impl Default for FanOut<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> FanOut<'a> {
    /// A fan-out with no outputs yet; pipes are sized to 1 MiB where the kernel allows.
    pub fn new() -> Self {
        FanOut {
            outputs: Vec::new(),
            pipe_size: crate::DEFAULT_PIPE_SIZE,
            resize_outputs: true,
            splice_files: false,
            file_pages: FilePages::Settle,
            watch_outputs: false,
            progress: None,
            backend: Backend::Blocking,
        }
    }

    /// What runs the outputs' `tee` and `splice` calls (default [`Backend::Blocking`]); with
    /// [`Backend::Uring`] each is submitted through the thread's io_uring ring, or made
    /// blocking where no ring can be set up. Filling the broker pipe from a non-pipe input,
    /// and the round's shared copy, stay plain calls.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Whether to notice output pipes whose readers left while the input is idle (default
    /// no). With it, waiting for input also polls every output pipe: one that reports its
    /// reader gone goes to the error callback with `EPIPE` at once, as a write would have
    /// later, and the run ends as soon as no output is left — GNU tee's `-p` and
    /// `--output-error` behaviour (`sleep 10 | tee -p | :` ends at once). Only for a pipe
    /// input or a non-pipe input that `poll` can wait on (not a regular file, which is always
    /// ready).
    pub fn watch_outputs(mut self, yes: bool) -> Self {
        self.watch_outputs = yes;
        self
    }

    /// How a regular-file input's pages may be referenced by the outputs (default
    /// [`FilePages::Settle`]: spliced, except for the last bytes — the largest output pipe's
    /// capacity — which go through a copy, so that no output pipe holds a page of the file
    /// when the run returns; an output socket makes it copy throughout). Every mode fails the
    /// run with [`TRUNCATED`](crate::TRUNCATED) when the file ends up shorter than the bytes
    /// spliced from it.
    pub fn file_pages(mut self, mode: FilePages) -> Self {
        self.file_pages = mode;
        self
    }

    /// Adds an output; outputs are written in the order they are added.
    pub fn output<F: AsFd + ?Sized>(mut self, fd: &'a F) -> Self {
        self.outputs.push(fd.as_fd());
        self
    }

    /// The capacity asked for the input, output and private pipes (default 1 MiB). A refusal
    /// (`EPERM` above `/proc/sys/fs/pipe-max-size`) leaves a pipe as it is.
    pub fn pipe_size(mut self, size: usize) -> Self {
        self.pipe_size = size;
        self
    }

    /// Whether output pipes are grown to the pipe size too (default yes: a 64 KiB output pipe
    /// makes every round short). Only pipes at the kernel's default size are grown (see
    /// [`grow_default`](crate::grow_default)); none is ever shrunk.
    pub fn resize_outputs(mut self, yes: bool) -> Self {
        self.resize_outputs = yes;
        self
    }

    /// Whether regular files receive their bytes by `splice` from a private pipe (`true`) or
    /// by `write` from one copy of the round shared by all such outputs (`false`, the
    /// default, GNU tee's own way but only for these outputs). Measured here (ext4, Linux
    /// 6.18, four file outputs, `splice bench --case tee-4-files`, which runs both): splice
    /// into the files ran at the read/write baseline on some runs and at 0.15× on others
    /// (kernel time in the page-cache copy); the shared copy in 128 KiB writes held 0.99–1.03×
    /// on every run.
    pub fn splice_files(mut self, yes: bool) -> Self {
        self.splice_files = yes;
        self
    }

    /// Calls `f(n)` after each round with the bytes every live output just received, for a
    /// progress display.
    pub fn on_progress(mut self, f: &'a dyn Fn(u64)) -> Self {
        self.progress = Some(f);
        self
    }

    /// Runs until the input ends; the first output error stops the run.
    ///
    /// # Errors
    /// As [`run_with`](Self::run_with) with a callback that always says [`Action::Stop`]:
    /// the first error of the input or of any output ends the run.
    pub fn run<I: AsFd>(&mut self, input: I) -> Result<FanReport, FanError> {
        self.run_with(input, |_, _| Action::Stop)
    }

    /// Runs until the input ends or no output is left; `on_error(index, &error)` decides what
    /// a failed output means. Bytes already delivered to the others stay delivered.
    ///
    /// # Errors
    /// A [`FanError`] holding the [`Error`], which output it belongs to
    /// ([`FanError::output`]; `None` for the input) and what every output had received by
    /// then ([`FanError::report`]). An output's error ends the run only when `on_error` says
    /// [`Action::Stop`]; with [`Action::Detach`] it goes into that output's
    /// [`OutputReport::error`] instead. The errors that matter:
    /// * an output whose reader is gone: `EPIPE` (with `SIGPIPE` ignored, as Rust programs
    ///   have it; [`watch_outputs`](Self::watch_outputs) reports it from `poll` while the
    ///   input is idle) or `ECONNRESET` from a socket;
    /// * a full output: `ENOSPC`, `EDQUOT`, `EFBIG`;
    /// * reading the input failed (`EIO`, `ECONNRESET`, `EBADF`…), or a file input shrank
    ///   below bytes already spliced from it ([`TRUNCATED`](crate::TRUNCATED));
    /// * an output that refuses splice or tee (`EINVAL`, `ENOSYS`, `EOPNOTSUPP`) before its
    ///   first byte is not an error: it gets its bytes by `write` instead. Running out of
    ///   descriptors for the fan-out's own pipes (`EMFILE`, `ENFILE`) is not one either: the
    ///   outputs concerned (all of them, for the input's pipe) get their bytes by `write`.
    ///
    /// `EINTR` is retried and `EAGAIN` on non-blocking descriptors waited out.
    pub fn run_with<I, E>(&mut self, input: I, mut on_error: E) -> Result<FanReport, FanError>
    where
        I: AsFd,
        E: FnMut(usize, &Error) -> Action,
    {
        let mut outs = self
            .outputs
            .iter()
            .map(|&fd| {
                let (size, resize) = (self.pipe_size, self.resize_outputs);
                Out::new(fd, size, resize, self.splice_files, self.backend)
            })
            .collect::<Vec<_>>();
        let mut shared = Shared::default();
        let tail = outs.iter().map(Out::settle_tail).max().unwrap_or(0);
        let mut inp = match Input::new(input.as_fd(), self.pipe_size, self.file_pages, tail) {
            Ok(i) => i,
            // No descriptor left for the input's broker pipe: every output by write(2).
            Err(e) if e.op() == Op::Pipe && deliver::out_of_descriptors(e.io_error()) => {
                return self.run_plain(input.as_fd(), outs, on_error);
            }
            Err(e) => return Err(stopped(e, None, 0, outs)),
        };
        if outs.len() == 1 && outs[0].is_tee() && inp.is_pipe() && !self.watch_outputs {
            match self.run_one(&mut inp, outs, &mut on_error) {
                Ok(done) => return done,
                Err(back) => outs = back, // refused before its first byte: the rounds below
            }
        }
        while outs.iter().any(|o| o.live()) {
            if self.watch_outputs {
                for i in wait_input_or_hangup(inp.fd(), &outs) {
                    let e = outs[i].hung_up();
                    if on_error(i, &e) == Action::Stop {
                        return Err(stopped(e, Some(i), inp.taken, outs));
                    }
                    outs[i].detach(e);
                }
                if !outs.iter().any(|o| o.live()) {
                    break;
                }
            }
            let n = match inp.fill() {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => return Err(stopped(e, None, inp.taken, outs)),
            };
            let pipe = inp.pipe();
            // The consumer moves the bytes out of the input last; pipes and sockets get them
            // by tee; the outputs that take write() share one copy in memory.
            let consumer = outs.iter().rposition(|o| o.live() && o.can_consume());
            for i in 0..outs.len() {
                if !outs[i].live() || Some(i) == consumer || outs[i].is_copy() {
                    continue;
                }
                if let Err(e) = outs[i].deliver_copy(pipe, n) {
                    if on_error(i, &e) == Action::Stop {
                        return Err(stopped(e, Some(i), inp.taken, outs));
                    }
                    outs[i].detach(e);
                }
            }
            let mut left = n;
            if outs.iter().any(|o| o.live() && o.is_copy()) {
                let (data, consumed) = match shared.load(pipe, n, consumer.is_none()) {
                    Ok(d) => d,
                    Err(e) => return Err(stopped(e, None, inp.taken, outs)),
                };
                if consumed {
                    left = 0; // read out of the input already
                }
                for i in 0..outs.len() {
                    // The consumer too, when the bytes are no longer in the input to move.
                    let by_copy = outs[i].is_copy() || (consumed && Some(i) == consumer);
                    if !(outs[i].live() && by_copy) {
                        continue;
                    }
                    if let Err(e) = outs[i].write_all(data) {
                        if on_error(i, &e) == Action::Stop {
                            return Err(stopped(e, Some(i), inp.taken, outs));
                        }
                        outs[i].detach(e);
                    }
                }
            }
            if let Some(i) = consumer.filter(|_| left > 0) {
                match outs[i].deliver_move(pipe, n) {
                    Ok(moved) => left = n - moved as usize,
                    Err((moved, e)) => {
                        left = n - moved as usize;
                        if on_error(i, &e) == Action::Stop {
                            return Err(stopped(e, Some(i), inp.taken, outs));
                        }
                        outs[i].detach(e);
                    }
                }
            }
            if let Err(e) = inp.discard(left) {
                return Err(stopped(e, None, inp.taken, outs));
            }
            if let Some(f) = self.progress {
                f(n as u64);
            }
        }
        Ok(report(inp.taken, outs))
    }
}

impl<'a> FanOut<'a> {
    /// One pipe into one pipe: nothing to duplicate, so no rounds — a splice per pipe's worth,
    /// blocking in the kernel, as `cat` does (no FIONREAD, no poll, no tee). `Err` gives the
    /// outputs back when the splice is refused before its first byte (nothing was taken).
    #[allow(clippy::type_complexity)]
    fn run_one<E>(
        &self,
        inp: &mut Input<'_>,
        mut outs: Vec<Out<'a>>,
        on_error: &mut E,
    ) -> Result<Result<FanReport, FanError>, Vec<Out<'a>>>
    where
        E: FnMut(usize, &Error) -> Action,
    {
        let max = crate::sys::pipe_capacity(inp.fd()).unwrap_or(self.pipe_size);
        loop {
            match outs[0].pass(inp.fd(), max) {
                Ok(0) => break,
                Ok(n) => {
                    inp.taken += n as u64;
                    if let Some(f) = self.progress {
                        f(n as u64);
                    }
                }
                Err(e) if inp.taken == 0 && refuses_splice(e.io_error()) => return Err(outs),
                Err(e) => {
                    if on_error(0, &e) == Action::Stop {
                        return Ok(Err(stopped(e, Some(0), inp.taken, outs)));
                    }
                    outs[0].detach(e);
                    break;
                }
            }
        }
        Ok(Ok(report(inp.taken, outs)))
    }

    /// The fan-out without pipes of its own, for when the process is out of descriptors:
    /// `read(2)` a round, `write(2)` it to every live output, as GNU tee does.
    fn run_plain<E>(
        &self,
        input: BorrowedFd<'_>,
        mut outs: Vec<Out<'a>>,
        mut on_error: E,
    ) -> Result<FanReport, FanError>
    where
        E: FnMut(usize, &Error) -> Action,
    {
        let kind = info(input).map_or(FdKind::Other, |i| i.kind);
        let mut buf = vec![0u8; 128 << 10];
        let mut taken = 0u64;
        while outs.iter().any(|o| o.live()) {
            let n = match read_some(input, &mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    let e = input_error(Op::Read, kind, taken, e);
                    return Err(stopped(e, None, taken, outs));
                }
            };
            taken += n as u64;
            for i in 0..outs.len() {
                if !outs[i].live() {
                    continue;
                }
                if let Err(e) = outs[i].write_all(&buf[..n]) {
                    if on_error(i, &e) == Action::Stop {
                        return Err(stopped(e, Some(i), taken, outs));
                    }
                    outs[i].detach(e);
                }
            }
            if let Some(f) = self.progress {
                f(n as u64);
            }
        }
        Ok(report(taken, outs))
    }
}

/// Waits until `input` is readable (or ended) or some live output pipe has lost its readers;
/// returns the indexes of those. A poll failure returns at once with none: the round's own
/// calls then report what is wrong.
fn wait_input_or_hangup(input: BorrowedFd<'_>, outs: &[Out<'_>]) -> Vec<usize> {
    use rustix::event::{poll, PollFd, PollFlags};
    let watched: Vec<(usize, BorrowedFd<'_>)> = outs
        .iter()
        .enumerate()
        .filter(|(_, o)| o.live())
        .filter_map(|(i, o)| o.pipe_fd().map(|fd| (i, fd)))
        .collect();
    if watched.is_empty() {
        return Vec::new();
    }
    let mut fds = vec![PollFd::from_borrowed_fd(input, PollFlags::IN)];
    // No events asked of the outputs: POLLERR (no reader left) is always reported.
    fds.extend(
        watched
            .iter()
            .map(|&(_, fd)| PollFd::from_borrowed_fd(fd, PollFlags::empty())),
    );
    loop {
        match poll(&mut fds, None) {
            Ok(_) => break,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return Vec::new(),
        }
    }
    let gone = PollFlags::ERR | PollFlags::HUP;
    watched
        .iter()
        .zip(&fds[1..])
        .filter(|(_, p)| p.revents().intersects(gone))
        .map(|(&(i, _), _)| i)
        .collect()
}

/// One `read(2)`, retrying `EINTR` and waiting out `EAGAIN`.
fn read_some(fd: BorrowedFd<'_>, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match crate::sys::read(fd, buf, None) {
            Err(e) if crate::copy::is_intr(&e) => {}
            Err(e) if crate::copy::is_again(&e) => {
                crate::ready::wait_ready(fd, crate::Ready::Read)?
            }
            r => return r,
        }
    }
}

fn report(bytes_in: u64, outs: Vec<Out<'_>>) -> FanReport {
    FanReport {
        bytes_in,
        outputs: outs.into_iter().map(Out::into_report).collect(),
    }
}

fn stopped(error: Error, output: Option<usize>, taken: u64, outs: Vec<Out<'_>>) -> FanError {
    FanError {
        error,
        output,
        report: report(taken, outs),
    }
}

/// An error on the fan-out's own pipes (the input side).
fn input_error(op: Op, src: FdKind, moved: u64, e: std::io::Error) -> Error {
    Error::new(op, src, FdKind::Pipe, Side::Input, moved, e)
}

/// Classifies `fd`, treating a failure as "other" (the first call will report the errno).
fn info(fd: BorrowedFd<'_>) -> Option<FdInfo> {
    FdInfo::of(fd).ok()
}
