//! How `splice pv` moves its inputs: the engine in chunks (counted from the calls' results),
//! or, for `-l`/`-0`, a buffer whose lines are counted ([`super::lines`]).

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use splicekit::{copy_with, CopyOptions, FdInfo, FdKind, Side, Strategy};

use std::sync::atomic::{AtomicU64, Ordering};

use super::lines::{copy_through, Memory};
use super::meter::Meter;
use crate::util::{strerror, Tail};

/// Moves all of `input` to `out` with the engine, `chunk` bytes per call, telling `tick` the
/// bytes of every call (including what a failing call delivered first).
/// With `limit`, at most that many bytes (pv's `-S`).
pub fn copy_counted(
    input: BorrowedFd<'_>,
    out: BorrowedFd<'_>,
    opts: &CopyOptions,
    chunk: &dyn Fn() -> u64,
    limit: Option<u64>,
    tick: &mut dyn FnMut(u64),
    tail: &mut Tail,
) -> Result<(), splicekit::Error> {
    let start_limit = limit;
    // A regular file is moved in chunks: each tells the engine how much of the file follows
    // it, so only the file's end is copied to settle the output (FilePages::Settle).
    let info = FdInfo::of(input).ok();
    let file = info.is_some_and(|i| i.kind == FdKind::File);
    let size = info.filter(|_| file).map_or(0, |i| i.size);
    let mut pos = if file {
        rustix::fs::seek(input, rustix::fs::SeekFrom::Current(0)).unwrap_or(0)
    } else {
        0
    };
    // Where the bytes shared so far end: the file must still reach that far at its end (a
    // chunk that starts past a new end sees only EOF, and cannot tell by itself).
    let mut shared_end = 0u64;
    let mut moved = 0u64;
    loop {
        let chunk = start_limit.map_or(chunk(), |l| chunk().min(l - moved));
        if chunk == 0 {
            return check_shared(input, out, shared_end, pos);
        }
        // A pipe, socket or terminal: ask for what is there, so a slow producer's bytes are
        // counted (and shown) as they come instead of once a whole chunk has gathered.
        let chunk = if file { chunk } else { ready_len(input, chunk) };
        let step = CopyOptions {
            len: Some(chunk),
            followed_by: size.saturating_sub(pos + chunk) + opts.followed_by,
            ..opts.clone()
        };
        // A file is classified once for all its chunks; other kinds each time (their
        // status flags belong to whoever else holds them).
        let copied = match info.filter(|_| file) {
            Some(i) => splicekit::copy_classified(input, &i, out, &step),
            None => copy_with(input, out, &step),
        };
        match copied {
            Ok(r) if r.bytes == 0 => return check_shared(input, out, shared_end, pos),
            Ok(r) => {
                if r.copied_tail < r.bytes {
                    shared_end = pos + r.bytes - r.copied_tail;
                }
                pos += r.bytes;
                moved += r.bytes;
                tail.after(&r);
                tick(r.bytes);
                if r.bytes < chunk {
                    // The engine stops short of `len` only at the end of the input: one ^D
                    // on a terminal ends it, and a file takes no extra call to find its end.
                    return check_shared(input, out, shared_end, pos);
                }
            }
            Err(e) => {
                tick(e.bytes_moved());
                return Err(e);
            }
        }
    }
}

/// How much to ask of a non-file input: what it holds now (FIONREAD), at most `chunk`; when
/// it holds nothing, wait until it is readable and look again — still nothing then is its
/// end (or a kind without FIONREAD), and the whole `chunk` is asked.
fn ready_len(input: BorrowedFd<'_>, chunk: u64) -> u64 {
    for waited in [false, true] {
        match rustix::io::ioctl_fionread(input) {
            Ok(0) if !waited => {
                let _ = splicekit::wait_ready(input, splicekit::Ready::Read);
            }
            Ok(n) if n > 0 => return n.min(chunk),
            _ => return chunk,
        }
    }
    chunk
}

/// At the end of a file moved in chunks: an error if it no longer holds the bytes shared
/// from it (its pages in the pipe now read as zeros or stale data).
fn check_shared(
    input: BorrowedFd<'_>,
    out: BorrowedFd<'_>,
    shared_end: u64,
    pos: u64,
) -> Result<(), splicekit::Error> {
    splicekit::check_holds(input, shared_end).map_err(|e| {
        let op = if e.raw_os_error().is_some() {
            splicekit::Op::Stat
        } else {
            splicekit::Op::Check
        };
        let kind = |fd| FdKind::of(fd).unwrap_or(FdKind::Other);
        splicekit::Error::new(op, kind(input), kind(out), Side::Input, pos, e)
    })
}

/// Whether `input` is the regular file (or block device) `out` writes to, as pv checks.
fn same_file(input: BorrowedFd<'_>, out: BorrowedFd<'_>) -> bool {
    match (rustix::fs::fstat(input), rustix::fs::fstat(out)) {
        (Ok(i), Ok(o)) => {
            let kind = rustix::fs::FileType::from_raw_mode(i.st_mode);
            let regular = matches!(kind, rustix::fs::FileType::RegularFile)
                || matches!(kind, rustix::fs::FileType::BlockDevice);
            regular && i.st_dev == o.st_dev && i.st_ino == o.st_ino
        }
        _ => false,
    }
}

/// Counts the bytes for the display and holds the rate down to `-L` (which `-R` may change
/// while the transfer runs).
pub(super) struct Counter<'a> {
    pub(super) meter: Option<&'a Meter>,
    /// The rate limit in force (0: none), shared with the `-R` listener.
    pub(super) rate: &'a AtomicU64,
    /// The limit the pacing below started from, when it started, and the count then.
    pub(super) paced: (u64, Instant, u64),
    pub(super) moved: u64,
}

impl Counter<'_> {
    /// Bytes per engine call: 1 MiB, or 1/20 s worth under a rate limit (down to one byte),
    /// so that every redraw at a low rate shows the bytes, rate and ETA moving (pv 1.9).
    pub(super) fn chunk(rate: &AtomicU64) -> u64 {
        match rate.load(Ordering::Relaxed) {
            0 => 1 << 20,
            r => (r / 20).clamp(1, 1 << 20),
        }
    }

    fn add(&mut self, n: u64) {
        self.moved += n;
        if let Some(m) = self.meter {
            m.add(n);
        }
        let rate = self.rate.load(Ordering::Relaxed);
        if rate != self.paced.0 {
            // A new limit (from -R) paces from here on.
            self.paced = (rate, Instant::now(), self.moved);
        }
        if rate > 0 {
            // Sleep until the bytes moved so far are due.
            let (_, t0, base) = self.paced;
            let due = Duration::from_secs_f64((self.moved - base) as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(t0.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
}

/// Opens a named input; with `direct`, `O_DIRECT` first (tmpfs and some others refuse it with
/// EINVAL: then the plain open).
fn open_input(name: &OsString, direct: bool) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    if direct {
        let r = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32)
            .open(name);
        if !matches!(&r, Err(e) if e.kind() == io::ErrorKind::InvalidInput) {
            return r;
        }
    }
    File::open(name)
}

/// What pv's transfer options ask for beyond moving bytes.
#[derive(Debug, Default, Clone)]
pub(super) struct Transfer {
    /// `-C`: read/write instead of the kernel paths.
    pub copy_only: bool,
    /// `-S`: stop after this many bytes (lines with `-l`/`-0`).
    pub stop_at: Option<u64>,
    /// `-Y`: `fdatasync` the output after each chunk (a regular file).
    pub sync: bool,
    /// `-l` (`\n`) or `-0` (NUL): count lines, which needs the bytes in memory.
    pub line_sep: Option<u8>,
    /// `-K`: open named inputs with `O_DIRECT` (quietly without it where refused).
    pub direct: bool,
    /// `-E` given this many times: skip past read errors.
    pub skip_errors: u8,
    /// `-Z BYTES`: the size of each skip (0: pv's growing steps).
    pub skip_block: u64,
    /// `-A N` (or `%NA` in `-F`): keep the last N bytes written for the display.
    pub last_written: usize,
    /// `%L` in `-F`: follow the lines written for the display.
    pub track_line: bool,
    /// `-O`: leave holes in a regular-file output where the input has blocks of zeros.
    pub sparse: bool,
}

impl Transfer {
    /// Whether the bytes must pass through memory (`-l`, `-0`, `-A`, `%L`, `-E`, `-O`).
    fn through_memory(&self) -> bool {
        self.line_sep.is_some()
            || self.skip_errors > 0
            || self.last_written > 0
            || self.track_line
            || self.sparse
    }
}

pub(super) fn copy_all(
    t: &Transfer,
    operands: &[OsString],
    output: Option<BorrowedFd<'_>>,
    mut c: Counter<'_>,
) -> u8 {
    let mut opts = CopyOptions::zero_copy();
    if t.copy_only {
        opts.strategies = Some(vec![Strategy::ReadWrite]);
    }
    let (stdin, stdout) = (io::stdin(), io::stdout());
    let out = output.unwrap_or(stdout.as_fd());
    let sync = t.sync && FdInfo::of(out).is_ok_and(|i| i.kind == FdKind::File);
    let mut status = 0;
    let mut tail = Tail::default();
    for name in operands {
        let left = t.stop_at.map(|s| s.saturating_sub(c.moved));
        if left == Some(0) {
            break;
        }
        let shown = crate::quote::quote(name);
        let file;
        let input: BorrowedFd<'_> = if name == "-" {
            stdin.as_fd()
        } else {
            match open_input(name, t.direct) {
                Ok(f) => {
                    file = f;
                    file.as_fd()
                }
                Err(e) => {
                    eprintln!("pv: {shown}: {}", strerror(&e));
                    status |= 2;
                    continue;
                }
            }
        };
        if same_file(input, out) {
            // Reading the file pv appends to would never end (pv: status 4, the file skipped).
            eprintln!("pv: input file is output file: {}", name.to_string_lossy());
            status |= 4;
            continue;
        }
        let rate = c.rate;
        let meter = c.meter;
        let mut count = |n: u64| {
            c.add(n);
            if sync {
                let _ = rustix::fs::fdatasync(out);
            }
        };
        let r = if t.through_memory() {
            let how = Memory {
                sep: t.line_sep,
                skip_errors: t.skip_errors,
                skip_block: t.skip_block,
                name: &shown,
                sparse: t.sparse,
            };
            let mut seen = |b: &[u8]| {
                if let Some(m) = meter.filter(|_| t.last_written > 0) {
                    m.wrote(b, t.last_written);
                }
                if let Some(m) = meter.filter(|_| t.track_line) {
                    m.lines(b, t.line_sep.unwrap_or(b'\n'));
                }
            };
            copy_through(input, out, how, left, &mut count, &mut seen).map(|skipped| {
                if skipped {
                    status |= 16;
                }
            })
        } else {
            let chunk = || Counter::chunk(rate);
            copy_counted(input, out, &opts, &chunk, left, &mut count, &mut tail)
        };
        if let Err(e) = r {
            match e.side() {
                Side::Input => eprintln!("pv: {shown}: read failed: {}", strerror(e.io_error())),
                Side::Output => {
                    eprintln!("pv: write failed: {}", strerror(e.io_error()));
                    return status | 16;
                }
            }
            status |= 16;
        }
    }
    if status == 0 {
        // Exit 0 promises the bytes: no page of an input may still sit unread in stdout.
        tail.settle(out);
    }
    status
}
