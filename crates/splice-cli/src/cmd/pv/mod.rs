//! `splice pv`: a pipe meter that moves its inputs to stdout with the copy engine (splice
//! between pipes, sendfile or splice from files; no user-space copy where the kernel allows)
//! and counts bytes from the calls' return values, drawing pv's progress line on stderr.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, IsTerminal};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use splicekit::{copy_with, CopyOptions, FdInfo, FdKind, Side, Strategy};

use super::getopt::{self, Spec};
use crate::util::{parse_pv_size, strerror, Tail};

pub mod meter;

use meter::{Look, Meter};

macro_rules! spec {
    ($s:expr, $l:expr, $a:expr, $k:expr) => {
        Spec {
            short: $s,
            long: $l,
            arg: $a,
            key: $k,
        }
    };
}

const SPECS: &[Spec] = &[
    spec!(Some('p'), Some("progress"), None, "p"),
    spec!(Some('t'), Some("timer"), None, "t"),
    spec!(Some('e'), Some("eta"), None, "e"),
    spec!(Some('r'), Some("rate"), None, "r"),
    spec!(Some('b'), Some("bytes"), None, "b"),
    spec!(Some('n'), Some("numeric"), None, "n"),
    spec!(Some('q'), Some("quiet"), None, "q"),
    spec!(Some('f'), Some("force"), None, "f"),
    spec!(Some('W'), Some("wait"), None, "W"),
    spec!(Some('C'), Some("no-splice"), None, "C"),
    spec!(Some('s'), Some("size"), Some(true), "s"),
    spec!(Some('L'), Some("rate-limit"), Some(true), "L"),
    spec!(Some('i'), Some("interval"), Some(true), "i"),
    spec!(Some('N'), Some("name"), Some(true), "N"),
    spec!(Some('w'), Some("width"), Some(true), "w"),
    spec!(Some('h'), Some("help"), None, "help"),
    spec!(Some('V'), Some("version"), None, "version"),
];

const HELP: &str = "\
Usage: pv [OPTION]... [FILE]...
Concatenate FILEs (or standard input) to standard output, showing progress on standard error.
The bytes move inside the kernel (splice, sendfile); the count comes from the calls' results.

  -p, --progress         show a progress bar
  -t, --timer            show the elapsed time
  -e, --eta              show the estimated time left
  -r, --rate             show the rate
  -b, --bytes            show the bytes moved
  -n, --numeric          print integer percentages (bytes with -b), one per line
  -q, --quiet            show nothing
  -f, --force            show progress even if standard error is not a terminal
  -W, --wait             show nothing until the first byte has moved
  -C, --no-splice        copy with read/write instead of the kernel paths
  -s, --size SIZE        assume SIZE bytes in all (default: the files' sizes)
  -L, --rate-limit RATE  move at most RATE bytes per second (K, M, G suffixes)
  -i, --interval SEC     redraw every SEC seconds (default 1)
  -N, --name NAME        prefix the display with NAME
  -w, --width WIDTH      draw the line WIDTH columns wide (default: the terminal's,
                         else $COLUMNS, else 80)
  -h, --help             show this help and exit
  -V, --version          show version information and exit

Without -p -t -e -r -b the display shows all of them. Exit status: 0 on success, 2 if an
input could not be opened, 16 if a transfer failed (combined as pv does).";

struct Opts {
    look: Look,
    quiet: bool,
    force: bool,
    copy_only: bool,
    limit: Option<u64>,
}

fn usage_error(msg: &str) -> u8 {
    eprintln!("pv: {msg}\nTry 'pv --help' for more information.");
    2
}

/// Runs `pv` with `args`; returns the exit status.
pub fn main(args: &[OsString]) -> u8 {
    let _ = splicekit::sys::restore_sigpipe_inherited();
    let (found, mut operands) = match getopt::parse(SPECS, args) {
        Ok(x) => x,
        Err(msg) => return usage_error(&msg),
    };
    let o = match options(&found) {
        Ok(Some(o)) => o,
        Ok(None) => return 0,
        Err(msg) => return usage_error(&msg),
    };
    if operands.is_empty() {
        operands.push("-".into());
    }
    run(o, &operands)
}

fn options(found: &[getopt::Found]) -> Result<Option<Opts>, String> {
    let mut look = Look {
        interval: Duration::from_secs(1),
        ..Look::default()
    };
    let mut o = Opts {
        look: Look::default(),
        quiet: false,
        force: false,
        copy_only: false,
        limit: None,
    };
    let mut any = false;
    for f in found {
        let v = f.value.as_deref().unwrap_or_default();
        match f.key {
            "p" => (look.progress, any) = (true, true),
            "t" => (look.timer, any) = (true, true),
            "e" => (look.eta, any) = (true, true),
            "r" => (look.rate, any) = (true, true),
            "b" => (look.bytes, any) = (true, true),
            "n" => look.numeric = true,
            "q" => o.quiet = true,
            "f" => o.force = true,
            "W" => look.wait_first = true,
            "C" => o.copy_only = true,
            "s" => look.size = Some(parse_pv_size(v)?),
            "L" => {
                let r = parse_pv_size(v)?;
                if r == 0 {
                    return Err(format!("invalid rate '{v}'"));
                }
                o.limit = Some(r);
            }
            "i" => {
                let s: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or_else(|| format!("invalid interval '{v}'"))?;
                look.interval = Duration::from_secs_f64(s.max(0.01));
            }
            "N" => look.name = Some(v.to_string()),
            "w" => {
                let w: usize = v
                    .parse()
                    .map_err(|_| format!("{v}: integer argument expected"))?;
                look.width = Some(w.max(1));
            }
            "help" => {
                println!("{HELP}");
                return Ok(None);
            }
            "version" => {
                println!("pv (splice) {}", env!("CARGO_PKG_VERSION"));
                return Ok(None);
            }
            _ => {}
        }
    }
    if !any && !look.numeric {
        let full = Look::full(None);
        (look.progress, look.timer, look.eta, look.rate, look.bytes) =
            (full.progress, full.timer, full.eta, full.rate, full.bytes);
    }
    o.look = look;
    Ok(Some(o))
}

/// The total size of the inputs when every one is a regular file (or a block device).
pub fn total_size(operands: &[OsString]) -> Option<u64> {
    let mut total = 0;
    for op in operands {
        let info = if op == "-" {
            FdInfo::of(io::stdin().as_fd()).ok()?
        } else {
            FdInfo::of(&File::open(op).ok()?).ok()?
        };
        if info.kind != FdKind::File {
            return None;
        }
        total += info.size;
    }
    Some(total)
}

fn run(mut o: Opts, operands: &[OsString]) -> u8 {
    if o.look.size.is_none() {
        o.look.size = total_size(operands);
    }
    let show = !o.quiet && (o.force || o.look.numeric || io::stderr().is_terminal());
    let meter = show.then(|| Meter::start(o.look.clone()));
    let counter = Counter {
        meter: meter.as_ref(),
        limit: o.limit.map(|r| (r, Instant::now())),
        moved: 0,
    };
    let status = copy_all(o.copy_only, operands, counter);
    if let Some(m) = meter {
        m.finish();
    }
    status
}

/// Moves all of `input` to `out` with the engine, `chunk` bytes per call, telling `tick` the
/// bytes of every call (including what a failing call delivered first).
pub fn copy_counted(
    input: BorrowedFd<'_>,
    out: BorrowedFd<'_>,
    opts: &CopyOptions,
    chunk: u64,
    tick: &mut dyn FnMut(u64),
    tail: &mut Tail,
) -> Result<(), splicekit::Error> {
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
    loop {
        let step = CopyOptions {
            len: Some(chunk),
            followed_by: size.saturating_sub(pos + chunk) + opts.followed_by,
            ..opts.clone()
        };
        match copy_with(input, out, &step) {
            Ok(r) if r.bytes == 0 => return check_shared(input, shared_end, pos),
            Ok(r) => {
                if r.copied_tail < r.bytes {
                    shared_end = pos + r.bytes - r.copied_tail;
                }
                pos += r.bytes;
                tail.after(&r);
                tick(r.bytes);
                if r.bytes < chunk {
                    // The engine stops short of `len` only at the end of the input: one ^D
                    // on a terminal ends it, and a file takes no extra call to find its end.
                    return check_shared(input, shared_end, pos);
                }
            }
            Err(e) => {
                tick(e.bytes_moved());
                return Err(e);
            }
        }
    }
}

/// At the end of a file moved in chunks: an error if it no longer holds the bytes shared
/// from it (its pages in the pipe now read as zeros or stale data).
fn check_shared(input: BorrowedFd<'_>, shared_end: u64, pos: u64) -> Result<(), splicekit::Error> {
    if shared_end == 0 {
        return Ok(());
    }
    match rustix::fs::fstat(input) {
        Ok(st) if (st.st_size.max(0) as u64) < shared_end => {
            let e = io::Error::new(io::ErrorKind::UnexpectedEof, splicekit::TRUNCATED);
            Err(splicekit::Error::new(
                splicekit::Op::Check,
                FdKind::File,
                FdKind::Pipe,
                Side::Input,
                pos,
                e,
            ))
        }
        _ => Ok(()),
    }
}

/// Counts the bytes for the display and holds the rate down to `-L`.
struct Counter<'a> {
    meter: Option<&'a Meter>,
    limit: Option<(u64, Instant)>,
    moved: u64,
}

impl Counter<'_> {
    /// Bytes per engine call: 1 MiB, or about 1/20 s worth under a rate limit.
    /// Bytes per engine call: 1 MiB, or 1/20 s worth under a rate limit (down to one byte),
    /// so that every redraw at a low rate shows the bytes, rate and ETA moving (pv 1.9).
    fn chunk(&self) -> u64 {
        match self.limit {
            Some((r, _)) => (r / 20).clamp(1, 1 << 20),
            None => 1 << 20,
        }
    }

    fn add(&mut self, n: u64) {
        self.moved += n;
        if let Some(m) = self.meter {
            m.add(n);
        }
        if let Some((rate, t0)) = self.limit {
            // Sleep until the bytes moved so far are due.
            let due = Duration::from_secs_f64(self.moved as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(t0.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
}

fn copy_all(copy_only: bool, operands: &[OsString], mut c: Counter<'_>) -> u8 {
    let mut opts = CopyOptions::zero_copy();
    if copy_only {
        opts.strategies = Some(vec![Strategy::ReadWrite]);
    }
    let (stdin, stdout) = (io::stdin(), io::stdout());
    let out = stdout.as_fd();
    let mut status = 0;
    let mut tail = Tail::default();
    for name in operands {
        let shown = crate::quote::quote(name);
        let file;
        let input: BorrowedFd<'_> = if name == "-" {
            stdin.as_fd()
        } else {
            match File::open(name) {
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
        let chunk = c.chunk();
        if let Err(e) = copy_counted(input, out, &opts, chunk, &mut |n| c.add(n), &mut tail) {
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
