//! The copy engine: moves bytes between any two descriptors by the fastest path the kernel
//! takes for that pair, falling back without losing or duplicating a byte.
//!
//! [`plan`](plan::plan) orders the strategies for a pair of descriptors (the rules in kernel-facts B and F); each
//! strategy runs until the source ends, the length is reached, or it fails. A strategy may hand
//! over to the next one only before the transfer delivered its first byte, or — for the broker
//! pipe — after the bytes already taken from the source were drained into the sink. After that,
//! every error is reported with the side (input or output) it belongs to.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use crate::error::{Error, Op, Result, Side};
use crate::kind::{FdInfo, FdKind};
use crate::pipe::DEFAULT_PIPE_SIZE;
use crate::ready::{is_ready, wait_ready, Ready};

mod broker;
pub(crate) mod calls;
mod direct;
pub mod plan;
mod probe;
mod readwrite;
mod settle;

pub(crate) use settle::check_op;
pub use settle::{check_holds, settle, TRUNCATED};

/// A way of moving bytes, as chosen by the engine and reported in [`CopyReport::strategy`].
///
/// [`CopyOptions::strategies`] replaces the engine's plan with a list of its own; a strategy
/// the kernel refuses before its first byte hands over to the next:
///
/// ```
/// use std::io::Write;
/// use splicekit::{CopyOptions, Strategy};
/// let mut src = tempfile::tempfile()?;
/// src.write_all(b"sendfile, or read and write")?;
/// std::io::Seek::rewind(&mut src)?;
/// let dst = tempfile::tempfile()?;
/// let opts = CopyOptions {
///     strategies: Some(vec![Strategy::Sendfile, Strategy::ReadWrite]),
///     ..CopyOptions::default()
/// };
/// let report = splicekit::copy_with(&src, &dst, &opts)?;
/// assert_eq!(report.bytes, 27);
/// assert!(matches!(report.strategy, Strategy::Sendfile | Strategy::ReadWrite));
/// println!("{} after {} fallbacks", report.strategy, report.fallbacks);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// `copy_file_range(2)` between two files on one filesystem (may reflink).
    CopyFileRange,
    /// `sendfile(2)` from a file-like source to a non-pipe sink.
    Sendfile,
    /// One `splice(2)` per chunk: the source or the sink is a pipe.
    Splice,
    /// Two `splice(2)` hops through a pooled broker pipe: source → pipe → sink.
    SpliceBroker,
    /// `read(2)` into a user buffer and `write(2)` out: works for every pair.
    ReadWrite,
}

impl Strategy {
    /// A short name for logs and reports.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::CopyFileRange => "copy_file_range",
            Strategy::Sendfile => "sendfile",
            Strategy::Splice => "splice",
            Strategy::SpliceBroker => "splice-broker",
            Strategy::ReadWrite => "read-write",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether the engine may let a pipe or socket hold *references* to a source file's pages.
///
/// Data spliced or sendfile'd from a file into a pipe or socket is a reference to the page
/// cache, not a copy (kernel-facts F1). Two effects follow while such a reference
/// sits unread in the sink:
///
/// * a later **write** to the file changes what the reader gets, even after the copy returned
///   and the copying process exited;
/// * a later **truncation** of the file makes the reader get bytes the file never held: zeros
///   up to the end of the cut page (on tmpfs, of the cut large folio) and stale data after.
///
/// File → file copies are unaffected. Every mode checks, when a copy that shared pages ends,
/// that the file still holds every byte shared from it: a file cut below them is an error
/// ([`TRUNCATED`]), never a success with invented bytes.
///
/// ```
/// use std::io::{Read, Write};
/// use splicekit::{CopyOptions, FilePages, Pipe};
/// let mut file = tempfile::tempfile()?;
/// file.write_all(&[b'x'; 1 << 20])?;
/// std::io::Seek::rewind(&mut file)?;
/// let (r, w) = Pipe::new()?.into_ends();
/// let reader = std::thread::spawn(move || {
///     let mut got = Vec::new();
///     std::fs::File::from(r).read_to_end(&mut got).map(|_| got)
/// });
/// // Zero-copy for the body; the last pipe's worth is copied, so once `copy_with`
/// // returns, changing the file can no longer change what the reader gets.
/// let opts = CopyOptions { file_pages: FilePages::Settle, ..CopyOptions::default() };
/// let report = splicekit::copy_with(&file, &w, &opts)?;
/// assert_eq!(report.bytes, 1 << 20);
/// assert!(report.copied_tail > 0);
/// file.set_len(0)?; // harmless now
/// drop(w);
/// let got = reader.join().unwrap()?;
/// assert!(got.len() == 1 << 20 && got.iter().all(|&b| b == b'x'));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FilePages {
    /// Copy file bytes through user memory whenever the sink is a pipe or a socket: what a
    /// reader gets is the file's content at the time it was read. The library default.
    #[default]
    Copy,
    /// Zero-copy for all but the end of the copy: into a pipe, the last bytes the copy writes
    /// — the pipe's capacity, less [`CopyOptions::followed_by`] — are written by copying, so
    /// when the copy returns the pipe holds no reference to the file (a pipe only ever holds
    /// the last bytes written, at most its capacity). Changing or truncating the file after
    /// that changes nothing the reader gets. A socket sink, whose buffers are not bounded that
    /// way, gets copies throughout. Costs one `read` + `write` of a pipe's worth per copy;
    /// `splice cat` and the other CLI tools use this mode.
    Settle,
    /// Let pipes and sockets reference file pages throughout (zero-copy). What the reader
    /// gets is the file's content when *it* reads, with both effects listed above, even after
    /// the copy returned; use when the file does not change until it has been read.
    Share,
}

/// What runs the splice strategies ([`Strategy::Splice`], [`Strategy::SpliceBroker`]) of a
/// copy; the other strategies are plain system calls either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Backend {
    /// `splice(2)` called from the copying thread, waiting with `poll` after `EAGAIN`.
    #[default]
    Blocking,
    /// `splice(2)` submitted through the copying thread's io_uring ring (feature `io-uring`;
    /// see the `uring` module when built with it): the broker's two hops as one linked pair of
    /// entries. Same results, same [`CopyReport`] as `Blocking`, save that
    /// [`CopyReport::syscalls`] counts ring operations that ran. Where no ring can be set up
    /// (`ENOSYS`, `EPERM` from a seccomp filter or `kernel.io_uring_disabled`, a kernel whose
    /// rings do not splice, or a build without the feature) the copy runs `Blocking`, decided
    /// before its first byte.
    Uring,
}

/// How [`copy_with`] moves bytes.
///
/// Build it with struct update syntax from [`CopyOptions::default`] or
/// [`CopyOptions::zero_copy`]:
///
/// ```
/// use std::io::Write;
/// use splicekit::{CopyOptions, Strategy};
/// let mut src = tempfile::tempfile()?;
/// src.write_all(b"header|payload|trailer")?;
/// let dst = tempfile::tempfile()?;
/// // 7 bytes from offset 7 of `src`, to offset 100 of `dst`; neither file position moves.
/// let opts = CopyOptions {
///     src_offset: Some(7),
///     len: Some(7),
///     exact: true, // fewer than 7 bytes would be an error
///     dst_offset: Some(100),
///     ..CopyOptions::default()
/// };
/// let report = splicekit::copy_with(&src, &dst, &opts)?;
/// assert_eq!(report.bytes, 7);
/// let mut got = [0; 7];
/// std::os::unix::fs::FileExt::read_exact_at(&dst, &mut got, 100)?;
/// assert_eq!(&got, b"payload");
///
/// // Only the read/write path, as a baseline or to rule the kernel paths out:
/// let plain = CopyOptions { strategies: Some(vec![Strategy::ReadWrite]), ..opts };
/// assert_eq!(splicekit::copy_with(&src, &dst, &plain)?.strategy, Strategy::ReadWrite);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Copy at most this many bytes (`None`: to the end of the source).
    pub len: Option<u64>,
    /// With `len` set: an early end of the source is an error ("source shrank").
    pub exact: bool,
    /// Read the source at this offset without moving its file position (files only).
    pub src_offset: Option<u64>,
    /// Write the sink at this offset without moving its file position (files only).
    pub dst_offset: Option<u64>,
    /// Capacity asked for broker pipes (and for the caller's pipes with `resize_pipes`).
    pub pipe_size: usize,
    /// Bytes asked per `splice` call on the direct path (`None`: the pipe's capacity).
    pub chunk: Option<usize>,
    /// Grow the source and sink pipes to `pipe_size` before copying (a visible side effect on
    /// the caller's pipes, hence off by default).
    pub resize_pipes: bool,
    /// Whether file pages may be referenced by pipes and sockets; see [`FilePages`].
    pub file_pages: FilePages,
    /// Buffer size of the read/write path.
    pub buffer_size: usize,
    /// Try exactly these strategies in this order instead of the engine's plan.
    pub strategies: Option<Vec<Strategy>>,
    /// With [`FilePages::Settle`]: bytes the caller will write into the same pipe after this
    /// copy (the next file of a `cat`, the next chunk of the same file). The copied tail is
    /// shortened by that much; the later writes push the shared bytes out instead.
    pub followed_by: u64,
    /// What runs the splice strategies; see [`Backend`].
    pub backend: Backend,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            len: None,
            exact: false,
            src_offset: None,
            dst_offset: None,
            pipe_size: DEFAULT_PIPE_SIZE,
            chunk: None,
            resize_pipes: false,
            file_pages: FilePages::Copy,
            buffer_size: 128 * 1024,
            strategies: None,
            followed_by: 0,
            backend: Backend::Blocking,
        }
    }
}

impl CopyOptions {
    /// The options the CLI uses: zero-copy from files with a settled end
    /// ([`FilePages::Settle`]) and 1 MiB pipes.
    pub fn zero_copy() -> Self {
        CopyOptions {
            file_pages: FilePages::Settle,
            resize_pipes: true,
            ..Self::default()
        }
    }
}

/// What a finished copy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyReport {
    /// Bytes delivered to the sink.
    pub bytes: u64,
    /// The strategy that finished the copy.
    pub strategy: Strategy,
    /// Data system calls made (splice, sendfile, copy_file_range, read, write), failed ones too;
    /// with [`Backend::Uring`], each ring operation that ran counts as one (a linked hop the
    /// kernel cancelled did not run).
    pub syscalls: u64,
    /// Strategies abandoned before this one (refused by the kernel before their first byte).
    pub fallbacks: u32,
    /// How many of the last bytes delivered hold no reference to the source file's pages
    /// (they were copied, or the source is not a file, or the sink is a file). Equal to
    /// `bytes` unless file pages were shared; see [`FilePages`].
    pub copied_tail: u64,
}

/// Copies everything from `src` to `dst` with [`CopyOptions::default`].
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// use std::io::{Read, Write};
/// let mut src = tempfile::tempfile()?;
/// src.write_all(b"hello splice")?;
/// src.rewind()?;
/// let (r, w) = splicekit::sys::pipe(splicekit::sys::PipeFlags::CLOEXEC)?;
/// let report = splicekit::copy(&src, &w)?;
/// assert_eq!(report.bytes, 12);
/// drop(w);
/// let mut out = String::new();
/// std::fs::File::from(r).read_to_string(&mut out)?;
/// assert_eq!(out, "hello splice");
/// # use std::io::Seek; Ok(()) }
/// ```
///
/// # Errors
/// As [`copy_with`].
pub fn copy<S: AsFd, D: AsFd>(src: S, dst: D) -> Result<CopyReport> {
    copy_with(src, dst, &CopyOptions::default())
}

/// Copies from `src` to `dst` as `opts` says, returning what was moved and how.
///
/// On error, [`Error::bytes_moved`] bytes reached the sink and [`Error::side`] says whether
/// the source or the sink failed. `EINTR` is retried; `EAGAIN` on a non-blocking descriptor is
/// waited out with `poll`. The chosen strategy is logged at debug level through the `log`
/// crate (target `splicekit`); the `splice` binary prints it with `SPLICE_LOG=debug`.
///
/// # Errors
/// An [`Error`] naming the operation, both descriptor kinds, the [`Side`] that failed and
/// the bytes that reached the sink before it ([`Error::bytes_moved`]; no byte is counted
/// that did not arrive). What matters in practice:
/// * the sink's reader is gone: `EPIPE` ([`Error::is_broken_pipe`]: stop, do not retry; the
///   process sees it only with `SIGPIPE` ignored, as Rust programs have it from startup) or
///   `ECONNRESET` from a socket peer that reset;
/// * the sink is full: `ENOSPC`, `EDQUOT`, `EFBIG`;
/// * `EBADF` when a descriptor is closed or not open for its direction ([`Op::Stat`] when
///   classifying it fails first);
/// * a path the kernel refuses for the pair (`EINVAL`, `EXDEV`, `ENOSYS`, `EOPNOTSUPP`,
///   `EPERM` from seccomp) before its first byte is not an error: the next strategy takes
///   over. The same errno after bytes moved is reported (kernel-facts F17);
/// * with [`CopyOptions::exact`], a source that ends before [`CopyOptions::len`]:
///   `UnexpectedEof`, "source shrank" ([`Op::Check`]);
/// * a file that shrank below bytes shared from it ([`FilePages`]): `UnexpectedEof` with
///   the message [`TRUNCATED`].
///
/// `EINTR` is retried and `EAGAIN` waited out, so neither is returned.
pub fn copy_with<S: AsFd, D: AsFd>(src: S, dst: D, opts: &CopyOptions) -> Result<CopyReport> {
    copy_fds(src.as_fd(), None, dst.as_fd(), opts)
}

/// [`copy_with`] for a caller that has just classified `src` itself — with [`FdInfo::of`],
/// or [`FdInfo::stat`] for a descriptor it opened with no status flags — so the engine does
/// not `fstat` and `fcntl` it again (two system calls per input, which a tool copying many
/// files pays for each). `src_info` must describe `src` as it is now; the sink is
/// classified as in [`copy_with`].
///
/// ```
/// use std::io::Write;
/// use splicekit::{copy_classified, CopyOptions, FdInfo};
/// let mut f = tempfile::tempfile()?;
/// f.write_all(b"hello")?;
/// std::io::Seek::rewind(&mut f)?;
/// let info = FdInfo::stat(&f)?;
/// let (r, w) = splicekit::Pipe::new()?.into_ends();
/// let report = copy_classified(&f, &info, &w, &CopyOptions::default())?;
/// assert_eq!(report.bytes, 5);
/// # drop(r);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`copy_with`].
pub fn copy_classified<S: AsFd, D: AsFd>(
    src: S,
    src_info: &FdInfo,
    dst: D,
    opts: &CopyOptions,
) -> Result<CopyReport> {
    copy_fds(src.as_fd(), Some(*src_info), dst.as_fd(), opts)
}

fn copy_fds(
    src: BorrowedFd<'_>,
    known: Option<FdInfo>,
    dst: BorrowedFd<'_>,
    opts: &CopyOptions,
) -> Result<CopyReport> {
    let si = match known {
        Some(i) => i,
        None => {
            FdInfo::of(src).map_err(|e| stat_err(FdKind::Other, FdKind::Other, Side::Input, e))?
        }
    };
    let di = FdInfo::of(dst).map_err(|e| stat_err(si.kind, FdKind::Other, Side::Output, e))?;
    // Best effort; the sink pipe's capacity it reads serves the settled tail below.
    let grow = |fd, info: &FdInfo| {
        (opts.resize_pipes && info.kind == FdKind::Pipe)
            .then(|| crate::pipe::grow_default(fd, opts.pipe_size))
            .flatten()
    };
    grow(src, &si);
    let dst_cap = grow(dst, &di);
    let order = match &opts.strategies {
        Some(list) => list.clone(),
        None => plan::plan(&si, &di, opts),
    };
    let mut x = Xfer::new(src, dst, si, di, opts);
    let refs = opts.file_pages != FilePages::Copy && settle::references_pages(&si, &di);
    if !refs {
        let (strategy, fallbacks) = run_order(&mut x, &order, false)?;
        return x.finish(strategy, fallbacks);
    }
    let start =
        settle::position(src, opts.src_offset).map_err(|e| x.error(Op::Stat, Side::Input, e))?;
    let body = (opts.file_pages == FilePages::Settle && di.kind == FdKind::Pipe).then(|| {
        let cap = dst_cap.map_or_else(|| settle::sink_capacity(dst), |c| c as u64);
        let body = settle::body_len(si.size, start, opts.len, cap, opts.followed_by);
        // O_DIRECT reads must start on a block boundary: so must the copied tail.
        if si.direct {
            body.saturating_sub((start + body) % 4096)
        } else {
            body
        }
    });
    let outer = x.remaining;
    let (strategy, fallbacks) = match body {
        None => run_order(&mut x, &order, true)?,
        Some(0) => (Strategy::ReadWrite, 0),
        Some(b) => {
            x.remaining = Some(outer.map_or(b, |r| r.min(b)));
            run_order(&mut x, &order, true)?
        }
    };
    if body.is_some() {
        // The tail, to the end of the file or of `len`, by copy.
        x.remaining = outer.map(|r| r - x.moved);
        x.sharing = false;
        if let Step::Failed(e) = readwrite::run(&mut x) {
            return Err(e);
        }
    }
    // Pseudo files (/proc, /sys) report a size of 0 whatever they hold: nothing to compare.
    if si.size > 0 && x.shared > 0 {
        settle::check_holds(src, start + x.shared)
            .map_err(|e| x.error(settle::check_op(&e), Side::Input, e))?;
    }
    x.finish(strategy, fallbacks)
}

/// Runs the strategies of `order` in turn until one finishes; `refs`: the zero-copy ones make
/// the sink reference the source's pages. Returns the strategy that finished and how many
/// were abandoned before it.
fn run_order(x: &mut Xfer<'_>, order: &[Strategy], refs: bool) -> Result<(Strategy, u32)> {
    let mut fallbacks = 0;
    for (i, &strategy) in order.iter().enumerate() {
        if probe::is_missing(strategy) {
            continue;
        }
        x.sharing = refs && strategy != Strategy::ReadWrite;
        let step = match strategy {
            Strategy::ReadWrite => readwrite::run(x),
            Strategy::SpliceBroker => broker::run(x),
            _ => direct::run(x, strategy),
        };
        match step {
            Step::Done => return Ok((strategy, fallbacks)),
            Step::Failed(e) => return Err(e),
            Step::Fallback(why) if i + 1 < order.len() => {
                probe::note(strategy, &why);
                log(|| {
                    format!(
                        "{strategy} refused {} -> {}: {why}; falling back",
                        x.si.kind, x.di.kind
                    )
                });
                fallbacks += 1;
            }
            Step::Fallback(why) => return Err(x.error(op_of(strategy), Side::Output, why)),
        }
    }
    let why = io::Error::new(io::ErrorKind::Unsupported, "no strategy left for this pair");
    Err(x.error(Op::Check, Side::Output, why))
}

fn stat_err(src: FdKind, dst: FdKind, side: Side, e: io::Error) -> Error {
    Error::new(Op::Stat, src, dst, side, 0, e)
}

fn op_of(s: Strategy) -> Op {
    match s {
        Strategy::CopyFileRange => Op::CopyFileRange,
        Strategy::Sendfile => Op::Sendfile,
        Strategy::Splice | Strategy::SpliceBroker => Op::Splice,
        Strategy::ReadWrite => Op::Write,
    }
}

/// The outcome of one strategy.
pub(crate) enum Step {
    /// The source ended or the length was reached.
    Done,
    /// Refused before anything was delivered: try the next strategy.
    Fallback(io::Error),
    /// A reported error.
    Failed(Error),
}

/// The state of one transfer, shared by the strategies that take turns on it.
pub(crate) struct Xfer<'a> {
    pub src: BorrowedFd<'a>,
    pub dst: BorrowedFd<'a>,
    pub si: FdInfo,
    pub di: FdInfo,
    pub opts: &'a CopyOptions,
    /// Bytes left to copy (`None`: to EOF).
    pub remaining: Option<u64>,
    /// The most one call may move: a datagram sink takes one message per call, and a larger
    /// one fails with `EMSGSIZE`.
    pub max_call: usize,
    pub src_off: Option<u64>,
    pub dst_off: Option<u64>,
    /// Bytes delivered to the sink.
    pub moved: u64,
    pub syscalls: u64,
    /// The running strategy makes the sink reference the source's pages.
    pub sharing: bool,
    /// Bytes delivered while sharing.
    pub shared: u64,
    /// Bytes delivered by copying since the last shared byte.
    pub tail: u64,
}

impl<'a> Xfer<'a> {
    fn new(
        src: BorrowedFd<'a>,
        dst: BorrowedFd<'a>,
        si: FdInfo,
        di: FdInfo,
        opts: &'a CopyOptions,
    ) -> Self {
        Xfer {
            src,
            dst,
            si,
            di,
            opts,
            remaining: opts.len,
            max_call: max_call(di.kind),
            src_off: opts.src_offset,
            dst_off: opts.dst_offset,
            moved: 0,
            syscalls: 0,
            sharing: false,
            shared: 0,
            tail: 0,
        }
    }

    /// Bytes to ask for in the next call, at most `cap`; 0 when the length is reached.
    pub fn want(&self, cap: usize) -> usize {
        let cap = cap.min(self.max_call);
        match self.remaining {
            Some(r) => r.min(cap as u64) as usize,
            None => cap,
        }
    }

    /// Records `n` bytes delivered to the sink.
    pub fn delivered(&mut self, n: usize) {
        self.moved += n as u64;
        if self.sharing {
            self.shared += n as u64;
            self.tail = 0;
        } else {
            self.tail += n as u64;
        }
        if let Some(r) = self.remaining.as_mut() {
            *r -= n as u64;
        }
    }

    pub fn error(&self, op: Op, side: Side, e: io::Error) -> Error {
        Error::new(op, self.si.kind, self.di.kind, side, self.moved, e)
    }

    /// Fallback before the first delivered byte, a reported error after — and always a
    /// reported error when the errno describes the descriptor rather than the call.
    pub fn refuse(&self, op: Op, side: Side, e: io::Error) -> Step {
        if self.moved == 0 && !is_definitive(&e) {
            Step::Fallback(e)
        } else {
            Step::Failed(self.error(op, side, e))
        }
    }

    /// Waits until `fd` is ready (after `EAGAIN` on a non-blocking descriptor).
    pub fn wait(&self, fd: BorrowedFd<'_>, ready: Ready, side: Side) -> Result<()> {
        wait_ready(fd, ready).map_err(|e| self.error(Op::Poll, side, e))
    }

    /// Waits after an `EAGAIN` whose side is unknown (a direct splice between two descriptors):
    /// on the sink if it cannot take data, otherwise on the source.
    pub fn wait_either(&self) -> Result<()> {
        if !is_ready(self.dst, Ready::Write) {
            return self.wait(self.dst, Ready::Write, Side::Output);
        }
        if is_ready(self.src, Ready::Read) {
            // Both ends look ready yet the call said EAGAIN: the pipe ran out of slots, not
            // bytes (kernel-facts K1). Back off briefly instead of spinning.
            std::thread::sleep(Duration::from_millis(1));
            return Ok(());
        }
        self.wait(self.src, Ready::Read, Side::Input)
    }

    fn finish(&self, strategy: Strategy, fallbacks: u32) -> Result<CopyReport> {
        if let (true, Some(len), Some(left)) = (self.opts.exact, self.opts.len, self.remaining) {
            if left > 0 {
                let msg = format!("source shrank: expected {len} bytes, got {}", self.moved);
                let e = io::Error::new(io::ErrorKind::UnexpectedEof, msg);
                return Err(self.error(Op::Check, Side::Input, e));
            }
        }
        let r = CopyReport {
            bytes: self.moved,
            strategy,
            syscalls: self.syscalls,
            fallbacks,
            copied_tail: self.tail,
        };
        log(|| {
            format!(
                "{} -> {}: {strategy}, {} bytes, {} syscalls",
                self.si.kind, self.di.kind, r.bytes, r.syscalls
            )
        });
        Ok(r)
    }
}

/// The largest call a sink of `kind` takes: one UDP datagram carries at most 65507 bytes of
/// payload over IPv4; unix datagrams are kept to 64 KiB, well inside the default send buffer.
fn max_call(kind: FdKind) -> usize {
    use crate::kind::SocketKind;
    match kind {
        FdKind::Socket(SocketKind::Udp) => 65_507,
        FdKind::Socket(SocketKind::UnixDatagram | SocketKind::UnixSeqpacket) => 65_536,
        _ => usize::MAX,
    }
}

/// Errnos about the descriptor itself, not about whether this call can serve the pair: the
/// next strategy cannot do better, and a socket reports some of them only once (after an
/// ECONNRESET the next read returns a clean 0), so falling back would turn a failure into an
/// empty success. Any other errno before the first byte falls back (kernel-facts F12: filesystems
/// answer with errnos nobody lists).
pub(crate) fn is_definitive(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::EPIPE
                | libc::ECONNRESET
                | libc::ECONNABORTED
                | libc::ECONNREFUSED
                | libc::ETIMEDOUT
                | libc::EHOSTUNREACH
                | libc::ENETUNREACH
                | libc::ENETDOWN
                | libc::ENOTCONN
                | libc::ESHUTDOWN
                | libc::ENOSPC
                | libc::EDQUOT
        )
    )
}

/// Whether an errno means "would block".
pub(crate) fn is_again(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EAGAIN)
}

/// Whether an errno is a kind's way of saying "not by splice/tee" (EINVAL, ENOSYS,
/// EOPNOTSUPP): before the first byte the caller falls back to read/write; any other errno
/// describes the descriptor itself (ENOSPC, EPIPE, EIO…) and is reported.
pub(crate) fn refuses_splice(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
    )
}

/// Whether an errno means "interrupted, retry".
pub(crate) fn is_intr(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EINTR)
}

/// Logs `msg()` at debug level through the `log` facade (target `splicekit`): which strategy
/// each copy took and why a path fell back. Nothing is printed unless the program installed
/// a logger (the `splice` binary does for `SPLICE_LOG=debug`).
pub(crate) fn log(msg: impl FnOnce() -> String) {
    if log::log_enabled!(target: "splicekit", log::Level::Debug) {
        log::debug!(target: "splicekit", "{}", msg());
    }
}

#[cfg(feature = "io-uring")]
pub(crate) fn calls_ring_completions() -> u64 {
    calls::ring::completions()
}
