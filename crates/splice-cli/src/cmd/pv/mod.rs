//! `splice pv`: a pipe meter that moves its inputs to stdout with the copy engine (splice
//! between pipes, sendfile or splice from files; no user-space copy where the kernel allows)
//! and counts bytes from the calls' return values, drawing pv's progress line on stderr.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, IsTerminal};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use splicekit::{FdInfo, FdKind};

use super::getopt::{self, Spec};
use crate::util::{parse_pv_size_in, strerror};

mod cursor;
mod extra;
mod format;
mod lines;
pub mod meter;
mod remote;
mod transfer;
mod watch;

pub use transfer::copy_counted;
use transfer::{copy_all, Counter, Transfer};

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

pub(crate) const SPECS: &[Spec] = &[
    // In the order of pv 1.9's long option table: an ambiguous abbreviation lists its
    // possibilities in this order, as getopt_long does.
    spec!(Some('h'), Some("help"), None, "help"),
    spec!(Some('V'), Some("version"), None, "version"),
    spec!(Some('p'), Some("progress"), None, "p"),
    spec!(Some('t'), Some("timer"), None, "t"),
    spec!(Some('e'), Some("eta"), None, "e"),
    spec!(Some('I'), Some("fineta"), None, "I"),
    spec!(Some('r'), Some("rate"), None, "r"),
    spec!(Some('a'), Some("average-rate"), None, "a"),
    spec!(Some('b'), Some("bytes"), None, "b"),
    spec!(Some('8'), Some("bits"), None, "8"),
    spec!(Some('k'), Some("si"), None, "k"),
    spec!(Some('T'), Some("buffer-percent"), None, "T"),
    spec!(Some('A'), Some("last-written"), Some(true), "A"),
    spec!(Some('f'), Some("force"), None, "f"),
    spec!(Some('n'), Some("numeric"), None, "n"),
    spec!(Some('q'), Some("quiet"), None, "q"),
    spec!(Some('c'), Some("cursor"), None, "c"),
    spec!(Some('W'), Some("wait"), None, "W"),
    spec!(Some('D'), Some("delay-start"), Some(true), "D"),
    spec!(Some('s'), Some("size"), Some(true), "s"),
    spec!(Some('g'), Some("gauge"), None, "g"),
    spec!(Some('l'), Some("line-mode"), None, "l"),
    spec!(Some('0'), Some("null"), None, "0"),
    spec!(Some('i'), Some("interval"), Some(true), "i"),
    spec!(Some('w'), Some("width"), Some(true), "w"),
    spec!(Some('H'), Some("height"), Some(true), "H"),
    spec!(Some('N'), Some("name"), Some(true), "N"),
    spec!(Some('u'), Some("bar-style"), Some(true), "u"),
    spec!(Some('F'), Some("format"), Some(true), "F"),
    spec!(Some('x'), Some("extra-display"), Some(true), "x"),
    spec!(Some('v'), Some("stats"), None, "v"),
    spec!(Some('L'), Some("rate-limit"), Some(true), "L"),
    spec!(Some('B'), Some("buffer-size"), Some(true), "B"),
    spec!(Some('C'), Some("no-splice"), None, "C"),
    spec!(Some('E'), Some("skip-errors"), None, "E"),
    spec!(Some('Z'), Some("error-skip-block"), Some(true), "Z"),
    spec!(Some('S'), Some("stop-at-size"), None, "S"),
    spec!(Some('Y'), Some("sync"), None, "Y"),
    spec!(Some('K'), Some("direct-io"), None, "K"),
    spec!(Some('O'), Some("sparse"), None, "O"),
    spec!(None, Some("sparse-output"), None, "O"),
    spec!(Some('X'), Some("discard"), None, "X"),
    spec!(Some('U'), Some("store-and-forward"), Some(true), "U"),
    spec!(Some('R'), Some("remote"), Some(true), "R"),
    spec!(Some('P'), Some("pidfile"), Some(true), "P"),
    spec!(Some('d'), Some("watchfd"), Some(true), "d"),
    spec!(Some('o'), Some("output"), Some(true), "o"),
    spec!(Some('m'), Some("average-rate-window"), Some(true), "m"),
];

pub(crate) const HELP: &str = "\
Usage: pv [OPTION]... [FILE]...
Concatenate FILEs (or standard input) to standard output, showing progress on standard error.
The bytes move inside the kernel (splice, sendfile); the count comes from the calls' results.

  -p, --progress         show a progress bar
  -g, --gauge            with no size known, the bar shows the rate against the highest seen
  -t, --timer            show the elapsed time
  -e, --eta              show the estimated time left
  -I, --fineta           show the local time the transfer should end (FIN 14:05:09)
  -r, --rate             show the rate
  -b, --bytes            show the bytes moved
  -A, --last-written N   show the last N bytes written (copies the bytes to see them)
  -n, --numeric          print numbers, one line per update: the percentage, or with
                         -t -b -r the seconds, the amount and the rate
  -q, --quiet            show nothing
  -v, --stats            at the end, the rates seen: min/avg/max/mdev (pv 1.9)
  -f, --force            show progress even if standard error is not a terminal
  -W, --wait             show nothing until the first byte has moved
  -C, --no-splice        copy with read/write instead of the kernel paths
  -E, --skip-errors      skip past read errors, writing zeros in their place (copies the
                         bytes; twice: one warning per file instead of one per skip)
  -Z, --error-skip-block BYTES  with -E, skip BYTES at a time (to a multiple of BYTES)
  -R, --remote PID       change the -L -s -N -i -w -F and display options of the running
                         splice pv PID (a message file in the temp directory)
  -c, --cursor           draw on a terminal row of its own (cursor positioning), so the
                         meters of one pipeline each keep a line
  -s, --size SIZE        assume SIZE bytes in all (default: the files' sizes)
  -L, --rate-limit RATE  move at most RATE bytes per second (K, M, G suffixes)
  -i, --interval SEC     redraw every SEC seconds (default 1)
  -N, --name NAME        prefix the display with NAME
  -w, --width WIDTH      draw the line WIDTH columns wide (default: the terminal's,
                         else $COLUMNS, else 80)
  -H, --height N         (accepted; one line is drawn)
  -a, --average-rate     show the average rate since the start
  -8, --bits             show the amount (and rates) in bits
  -k, --si               decimal units (kB, MB: powers of 1000) instead of KiB, MiB
  -D, --delay-start SEC  show nothing until SEC seconds have passed
  -l, --line-mode        count lines instead of bytes (copies the bytes to count them)
  -0, --null             lines end with NUL (implies -l's copying)
  -S, --stop-at-size     stop after the -s size
  -Y, --sync             fdatasync a file output after each chunk
  -B, --buffer-size N    (accepted; the bytes wait in the kernel's pipes, not in a buffer)
  -P, --pidfile FILE     write the process ID to FILE while running
  -o, --output FILE      write to FILE (created or truncated) instead of standard output
  -X, --discard          move the bytes into /dev/null instead of standard output
  -U, --store-and-forward FILE  everything into FILE first (- for a temporary file),
                         then FILE to the output, each pass with its own display
  -d, --watchfd PID[:FD]  show how far process PID has got in its file FD, or (no FD)
                         in every file it has open, a line each, instead of moving anything;
                         =NAME for the processes pgrep NAME finds, @FILE for a list; more
                         targets may follow as operands
  -K, --direct-io        open FILEs with O_DIRECT (where the file system allows it)
  -m, --average-rate-window SEC  the average rate and ETA over the last SEC seconds
                         (default 30)
  -T, --buffer-percent   show how full the output pipe is ({ 45%}): the bytes wait in
                         the kernel's pipe, not in a buffer of ours
  -F, --format FORMAT    draw FORMAT: %p bar, %t time, %e ETA, %I finish time, %r rate,
                         %a average rate, %b amount, %T pipe fill, %NA last N bytes,
                         %L last line (copies the bytes to see it), %N name, %% a percent
                         sign; %{bar-plain|bar-block|bar-granular|bar-shaded} bars,
                         %{sgr:red,bold,...} colours, pv's %{timer}-style long forms; a
                         number after % fixes a bar's or %L's width; with -n, bare numbers
  -u, --bar-style STYLE  plain, block, granular or shaded bars (the last three in a UTF-8
                         locale)
  -x, --extra-display SPEC  also show the display in the window title (window) and/or the
                         process title (process), as SPEC lists them, then :FORMAT
  -O, --sparse           leave holes in a file output where the input has zero blocks
                         (copies the bytes to see them)
  -h, --help             show this help and exit
  -V, --version          show version information and exit

Without -p -t -e -r -b the display shows all of them. Exit status: 0 on success, 2 if an
input could not be opened, 4 if an input is the output file, 16 if a transfer failed
(combined as pv does); 1 for a problem with -R or -P, 64 for a bad command line.";

#[derive(Clone)]
struct Opts {
    look: Look,
    quiet: bool,
    force: bool,
    transfer: Transfer,
    limit: Option<u64>,
    pidfile: Option<String>,
    /// `-d`: the processes (and descriptors) to watch instead of moving anything.
    watch: Vec<watch::Target>,
    remote: Option<u32>,
    /// `-o FILE`, or `/dev/null` for `-X`.
    output: Option<String>,
    /// `-U FILE`: store everything in FILE first, then forward it.
    store: Option<String>,
}

/// A bad command line: pv exits 64 then (pv 1.6.20 and 1.9 alike).
fn usage_error(msg: &str) -> u8 {
    eprintln!("pv: {msg}\nTry 'pv --help' for more information.");
    64
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
    if let Some(pid) = o.remote {
        return remote::send(pid, args);
    }
    if !o.watch.is_empty() {
        // pv 1.9: more targets may follow as operands; nothing is transferred.
        let mut o = o;
        for op in &operands {
            match watch::parse(&op.to_string_lossy()) {
                Ok(t) => o.watch.push(t),
                Err(msg) => return usage_error(&msg),
            }
        }
        return run(o, &[]);
    }
    if operands.is_empty() {
        operands.push("-".into());
    }
    run(o, &operands)
}

fn options(found: &[getopt::Found]) -> Result<Option<Opts>, String> {
    let mut look = Look {
        interval: Duration::from_secs(1),
        utf8: crate::quote::utf8_locale(),
        ..Look::default()
    };
    let mut o = Opts {
        look: Look::default(),
        quiet: false,
        force: false,
        transfer: Transfer::default(),
        limit: None,
        pidfile: None,
        watch: Vec::new(),
        remote: None,
        output: None,
        store: None,
    };
    let mut stop_at_size = false;
    let mut any = false;
    for f in found {
        let v = f.value.as_deref().unwrap_or_default();
        // -k changes how the sizes after it read (K = 1000), as pv's --si does.
        let base = if look.si { 1000 } else { 1024 };
        let parse_pv_size = |v: &str| parse_pv_size_in(v, base);
        match f.key {
            k if look.switch_on(k) => any = true,
            "n" => look.numeric = true,
            "q" => o.quiet = true,
            "f" => o.force = true,
            "c" => look.cursor = true,
            "v" => look.stats = true,
            "k" => look.si = true,
            "g" => look.gauge = true,
            "U" => o.store = Some(v.to_string()),
            "u" => look.bar_style = format::BarStyle::named(v, look.utf8),
            "x" => look.extra = Some(extra::parse(v)?),
            "O" => o.transfer.sparse = true,
            "o" => o.output = Some(v.to_string()),
            "X" => o.output = Some("/dev/null".into()),
            "W" => look.wait_first = true,
            "C" => o.transfer.copy_only = true,
            // pv 1.9: -8 is the byte counter in bits (a display switch of its own).
            "8" => (look.bits, look.bytes, any) = (true, true, true),
            "l" => o.transfer.line_sep = Some(b'\n'),
            "0" => o.transfer.line_sep = Some(0),
            "S" => stop_at_size = true,
            "Y" => o.transfer.sync = true,
            "P" => o.pidfile = Some(v.to_string()),
            "F" => (look.format, any) = (Some(v.to_string()), true),
            "d" => o.watch.push(watch::parse(v)?),
            "K" => o.transfer.direct = true,
            "A" => {
                let n: usize = v
                    .parse()
                    .map_err(|_| format!("{v}: integer argument expected"))?;
                (look.last_written, any) = (n.min(256), n > 0 || any);
            }
            "E" => o.transfer.skip_errors = o.transfer.skip_errors.saturating_add(1),
            "Z" => o.transfer.skip_block = parse_pv_size(v)?,
            "R" => {
                let pid: u32 = v
                    .parse()
                    .ok()
                    .filter(|&p| p > 0)
                    .ok_or_else(|| format!("{v}: integer argument expected"))?;
                o.remote = Some(pid);
            }
            "m" => {
                let s: u64 = v
                    .parse()
                    .map_err(|_| format!("{v}: integer argument expected"))?;
                look.window = Some(Duration::from_secs(s.max(1)));
            }
            "B" => {
                parse_pv_size(v)?;
            }
            "H" => {
                v.parse::<u64>()
                    .map_err(|_| format!("{v}: integer argument expected"))?;
            }
            "D" => {
                let s: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| format!("invalid delay '{v}'"))?;
                look.delay = Duration::from_secs_f64(s);
            }
            "s" => look.size = Some(size_arg(v, look.si)?),
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
    look.lines = o.transfer.line_sep.is_some();
    o.transfer.last_written = match &look.format {
        Some(f) => format::last_written_len(f),
        None => look.last_written,
    };
    // %L: pv shows blanks while it splices; here the bytes go through memory to show it.
    o.transfer.track_line = look.format.as_deref().is_some_and(format::shows_line);
    // %{sgr} colours: forced (-f) or a terminal that is not `dumb`, as pv assumes.
    let term = std::env::var("TERM").unwrap_or_default();
    look.colour = o.force || (!term.is_empty() && term != "dumb");
    if stop_at_size {
        o.transfer.stop_at = look.size;
    }
    if !o.watch.is_empty() {
        let t = &o.transfer;
        if t.line_sep.is_some() || stop_at_size || t.skip_errors > 0 || o.limit.is_some() {
            return Err(
                "cannot use line mode or transfer modifier options when watching file descriptors"
                    .into(),
            );
        }
        if look.cursor {
            return Err("cannot use cursor positioning when watching file descriptors".into());
        }
        if o.remote.is_some() {
            return Err("cannot use remote control when watching file descriptors".into());
        }
        if o.output.is_some() {
            return Err("-o: cannot transfer files when watching file descriptors".into());
        }
    }
    o.look = look;
    Ok(Some(o))
}

/// `-s SIZE`, or pv 1.8's `-s @FILE`: the size of FILE (a regular file or block device).
fn size_arg(v: &str, si: bool) -> Result<u64, String> {
    let Some(path) = v.strip_prefix('@') else {
        return parse_pv_size_in(v, if si { 1000 } else { 1024 });
    };
    let failed = |e: &io::Error| format!("failed to stat file {path}: {}", strerror(e));
    let m = std::fs::metadata(path).map_err(|e| failed(&e))?;
    use std::os::unix::fs::FileTypeExt;
    if m.file_type().is_block_device() {
        let mut f = File::open(path).map_err(|e| failed(&e))?;
        return io::Seek::seek(&mut f, io::SeekFrom::End(0)).map_err(|e| failed(&e));
    }
    Ok(m.len())
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

fn run(o: Opts, operands: &[OsString]) -> u8 {
    if !o.watch.is_empty() {
        let show = !o.quiet && (o.force || o.look.numeric || io::stderr().is_terminal());
        return watch::run(&o.watch, o.look, show);
    }
    if let Some(p) = &o.pidfile {
        if let Err(e) = std::fs::write(p, format!("{}\n", std::process::id())) {
            eprintln!("pv: {}: {}", crate::quote::quote(p.as_ref()), strerror(&e));
            return 1; // pv: status 1 is a problem with -R or -P
        }
    }
    let output = match &o.output {
        Some(p) => match File::create(p) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("pv: {}: {}", crate::quote::quote(p.as_ref()), strerror(&e));
                return 2;
            }
        },
        None => None,
    };
    let output = output.as_ref().map(File::as_fd);
    let rate = Arc::new(AtomicU64::new(o.limit.unwrap_or(0)));
    let status = match &o.store {
        None => pass(&o, operands, output, &rate, true),
        Some(store) => store_and_forward(&o, operands, store, output, &rate),
    };
    if let Some(p) = &o.pidfile {
        let _ = std::fs::remove_file(p);
    }
    status
}

/// One transfer of `operands` into `output` (stdout when `None`) with its own display;
/// `remote`: this pass answers `-R`.
fn pass(
    o: &Opts,
    operands: &[OsString],
    output: Option<BorrowedFd<'_>>,
    rate: &Arc<AtomicU64>,
    remote: bool,
) -> u8 {
    let (mut look, mut transfer) = (o.look.clone(), o.transfer.clone());
    if look.size.is_none() {
        look.size = match transfer.line_sep {
            // pv 1.9: in line mode without -s, the files' lines are counted first.
            Some(sep) => lines::total_lines(operands, sep),
            None => total_size(operands),
        };
        if transfer.stop_at.is_some() {
            transfer.stop_at = look.size;
        }
    }
    let show = !o.quiet && (o.force || look.numeric || io::stderr().is_terminal());
    // -v measures even when nothing is drawn (pv -q -v).
    look.hidden = !show;
    let meter = (show || look.stats).then(|| Meter::start(look));
    if remote {
        remote::listen(rate.clone(), meter.as_ref());
    }
    let counter = Counter {
        meter: meter.as_ref(),
        rate,
        paced: (
            rate.load(std::sync::atomic::Ordering::Relaxed),
            Instant::now(),
            0,
        ),
        moved: 0,
    };
    let status = copy_all(&transfer, operands, output, counter);
    if let Some(m) = meter {
        m.finish();
    }
    status
}

/// pv 1.9's `-U FILE`: everything into FILE first (a temporary file for `-`), then FILE to
/// the output, each pass with its own display; a failed first pass forwards nothing.
fn store_and_forward(
    o: &Opts,
    operands: &[OsString],
    store: &str,
    output: Option<BorrowedFd<'_>>,
    rate: &Arc<AtomicU64>,
) -> u8 {
    let made = if store == "-" {
        tempfile::NamedTempFile::new().map(|t| {
            let p = t.into_temp_path();
            (p.to_path_buf(), Some(p))
        })
    } else {
        Ok((std::path::PathBuf::from(store), None))
    };
    let stored = made.and_then(|(path, tmp)| Ok((File::create(&path)?, path, tmp)));
    let (file, path, _tmp) = match stored {
        Ok(x) => x,
        Err(e) => {
            eprintln!(
                "pv: {}: {}",
                crate::quote::quote(store.as_ref()),
                strerror(&e)
            );
            return 2;
        }
    };
    let first = pass(o, operands, Some(file.as_fd()), rate, true);
    drop(file);
    if first & 16 != 0 {
        return first;
    }
    let fwd = Opts {
        look: Look {
            size: None,
            ..o.look.clone()
        },
        transfer: transfer::Transfer {
            stop_at: None,
            ..o.transfer.clone()
        },
        ..o.clone()
    };
    first | pass(&fwd, &[path.into_os_string()], output, rate, false)
}
