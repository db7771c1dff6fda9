//! `splice cat`: a drop-in for GNU cat. Without formatting options every input is moved to
//! stdout by the copy engine (splice, sendfile, copy_file_range); with them, a buffered
//! user-space path formats the bytes as GNU cat does.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use splicekit::{copy_classified, copy_with, CopyOptions, FdInfo, FdKind, Side};

use super::cat_format::{Format, Formatter};
use super::gather::{self, Gather, Opened};
use super::getopt::{self, Spec};
use crate::util::{closed_at_start, strerror, Tail};

pub(crate) const SPECS: &[Spec] = &[
    // GNU cat's long options in its table's order (an ambiguous abbreviation lists them so),
    // then splice's own; then the short-only ones.
    Spec {
        short: Some('b'),
        long: Some("number-nonblank"),
        arg: None,
        key: "b",
    },
    Spec {
        short: Some('n'),
        long: Some("number"),
        arg: None,
        key: "n",
    },
    Spec {
        short: Some('s'),
        long: Some("squeeze-blank"),
        arg: None,
        key: "s",
    },
    Spec {
        short: Some('v'),
        long: Some("show-nonprinting"),
        arg: None,
        key: "v",
    },
    Spec {
        short: Some('E'),
        long: Some("show-ends"),
        arg: None,
        key: "E",
    },
    Spec {
        short: Some('T'),
        long: Some("show-tabs"),
        arg: None,
        key: "T",
    },
    Spec {
        short: Some('A'),
        long: Some("show-all"),
        arg: None,
        key: "A",
    },
    Spec {
        short: None,
        long: Some("help"),
        arg: None,
        key: "help",
    },
    Spec {
        short: None,
        long: Some("version"),
        arg: None,
        key: "version",
    },
    Spec {
        short: None,
        long: Some("strategy"),
        arg: None,
        key: "strategy",
    },
    Spec {
        short: None,
        long: Some("progress"),
        arg: None,
        key: "progress",
    },
    Spec {
        short: Some('e'),
        long: None,
        arg: None,
        key: "e",
    },
    Spec {
        short: Some('t'),
        long: None,
        arg: None,
        key: "t",
    },
    Spec {
        short: Some('u'),
        long: None,
        arg: None,
        key: "u",
    },
];

pub(crate) const HELP: &str = "\
Usage: cat [OPTION]... [FILE]...
Write each FILE, in order, to standard output; with no FILE or when FILE is -, read
standard input. Without formatting options the bytes move inside the kernel (splice,
sendfile, copy_file_range) and fall back to read/write where a descriptor refuses.

  -A, --show-all           same as -vET
  -b, --number-nonblank    number nonempty output lines (overrides -n)
  -e                       same as -vE
  -E, --show-ends          show $ at the end of each line
  -n, --number             number all output lines
  -s, --squeeze-blank      print one empty line for a run of empty lines
  -t                       same as -vT
  -T, --show-tabs          show TAB characters as ^I
  -u                       (ignored)
  -v, --show-nonprinting   show control and high bytes with ^ and M- notation
      --strategy           report on stderr how each input was moved
      --progress           show pv's progress line on stderr
      --help               show this help and exit
      --version            show version information and exit

Exit status is 0 when every input was copied, 1 otherwise.";

/// Runs `cat` with `args`; returns the exit status.
pub fn main(args: &[OsString]) -> u8 {
    // GNU cat dies by SIGPIPE when its reader goes away (status 141 in a shell), unless its
    // parent ignored SIGPIPE; then it reports EPIPE. So do we.
    let _ = splicekit::sys::restore_sigpipe_inherited();
    let (found, mut operands) = match getopt::parse(SPECS, args) {
        Ok(x) => x,
        Err(msg) => {
            eprintln!("cat: {msg}\nTry 'cat --help' for more information.");
            return 1;
        }
    };
    let mut fmt = Format::default();
    let (mut report, mut progress) = (false, false);
    for f in &found {
        match f.key {
            "A" => (fmt.nonprinting, fmt.ends, fmt.tabs) = (true, true, true),
            "b" => fmt.number_nonblank = true,
            "e" => (fmt.nonprinting, fmt.ends) = (true, true),
            "E" => fmt.ends = true,
            "n" => fmt.number = true,
            "s" => fmt.squeeze = true,
            "t" => (fmt.nonprinting, fmt.tabs) = (true, true),
            "T" => fmt.tabs = true,
            "v" => fmt.nonprinting = true,
            "strategy" => report = true,
            "progress" => progress = true,
            "help" => {
                println!("{HELP}");
                return 0;
            }
            "version" => {
                println!("cat (splice) {}", env!("CARGO_PKG_VERSION"));
                return 0;
            }
            _ => {}
        }
    }
    if operands.is_empty() {
        operands.push("-".into());
    }
    if closed_at_start(1) {
        // GNU cat looks at its output (fstat) before any input.
        eprintln!("cat: standard output: Bad file descriptor");
        return 1;
    }
    let (stdin, stdout) = (io::stdin(), io::stdout());
    let out = stdout.as_fd();
    let out_info = FdInfo::of(out).ok();
    let mut formatter = fmt.any().then(|| Formatter::new(fmt));
    // Sizes only for a progress line: without one, no operand is opened twice.
    let total = progress.then(|| super::pv::total_size(&operands)).flatten();
    let meter = super::pv::meter::progress(progress, total);
    let tick = |n: u64| super::pv::meter::tick(&meter, n);
    let mut status = 0;
    let mut read_stdin = false;
    let mut tail = Tail::default();
    let pipe_out = out_info.is_some_and(|i| i.kind == FdKind::Pipe);
    // Small regular files are gathered into one buffer (not with formatting, a progress line
    // or --strategy, which account per input).
    let gathering = formatter.is_none() && meter.is_none() && !report;
    let mut gather = Gather::default();
    // Writes what is gathered, before anything else reaches stdout or stderr.
    let flush = |g: &mut Gather, tail: &mut Tail| match g.flush(out) {
        Ok(n) => {
            tail.wrote(n);
            Ok(())
        }
        Err(e) => {
            eprintln!("cat: write error: {}", strerror(&e));
            Err(())
        }
    };
    for (i, name) in operands.iter().enumerate() {
        // Quoted only for a message: quoting reads the locale's variables.
        let shown = || crate::quote::quote(name);
        let mut file = None;
        let mut known = None;
        let input: BorrowedFd<'_> = if name == "-" {
            read_stdin = true;
            stdin.as_fd()
        } else {
            let opened = match gather.open(name) {
                Ok(Opened::Fifo(first)) => {
                    // Gathered bytes go out before a wait for the FIFO's writer.
                    if flush(&mut gather, &mut tail).is_err() {
                        return 1;
                    }
                    gather.wait_for_writer(first)
                }
                Ok(Opened::Device) => {
                    // Gathered bytes go out before the device's own (blocking) open.
                    if flush(&mut gather, &mut tail).is_err() {
                        return 1;
                    }
                    gather.open_blocking(name)
                }
                Ok(Opened::Ready(f, info)) => {
                    known = info;
                    Ok(f)
                }
                Err(e) => Err(e),
            };
            match opened {
                Ok(f) => {
                    let f: &File = file.insert(f);
                    f.as_fd()
                }
                Err(e) => {
                    if flush(&mut gather, &mut tail).is_err() {
                        return 1;
                    }
                    eprintln!("cat: {}: {}", shown(), strerror(&e));
                    status = 1;
                    continue;
                }
            }
        };
        // A file opened here has no status flags worth a system call (read-only, blocking).
        let in_info = if name == "-" {
            FdInfo::of(input).ok()
        } else {
            known.or_else(|| FdInfo::stat(input).ok())
        };
        if let (Some(oi), Some(inf)) = (&out_info, &in_info) {
            // The input is the output file: what is gathered must be written first, as the
            // check compares the output's position with the input's.
            if inf.same_file(oi) && flush(&mut gather, &mut tail).is_err() {
                return 1;
            }
            if is_output(input, inf, oi) {
                eprintln!("cat: {}: input file is output file", shown());
                status = 1;
                continue;
            }
        }
        let small = in_info.filter(|i| i.kind == FdKind::File && i.size <= gather::SMALL);
        if let Some(inf) = small.filter(|_| gathering) {
            let r = gather.take(input, inf.size);
            if let Some(f) = file.take() {
                gather.hold(f);
            }
            if (r.is_err() || gather.full()) && flush(&mut gather, &mut tail).is_err() {
                return 1;
            }
            if let Err(e) = r {
                eprintln!("cat: {}: {}", shown(), strerror(&e));
                status = 1;
            }
            continue;
        }
        if flush(&mut gather, &mut tail).is_err() {
            return 1;
        }
        let res = match formatter.as_mut() {
            Some(f) => f.run(input, out, &tick),
            None => {
                let tick = meter.is_some().then_some(&tick as &dyn Fn(u64));
                let next = &operands[i + 1..];
                let followed = if pipe_out && in_info.is_some_and(shares) {
                    followed_by(next, out)
                } else {
                    0
                };
                // A file cat opened itself is classified already (stdin's flags may be set).
                let known = in_info.filter(|_| name != "-");
                let r = fast_copy(
                    input,
                    known,
                    out,
                    report,
                    &shown(),
                    tick,
                    followed,
                    &mut tail,
                );
                if pipe_out {
                    for msg in tail.consumed(out_cap(out)) {
                        eprintln!("cat: {msg}");
                        status = 1;
                    }
                }
                r
            }
        };
        match res {
            Ok(()) => {}
            Err((Side::Input, e)) => {
                eprintln!("cat: {}: {}", shown(), strerror(&e));
                status = 1;
            }
            Err((Side::Output, e)) => {
                eprintln!("cat: write error: {}", strerror(&e));
                return 1;
            }
        }
    }
    if flush(&mut gather, &mut tail).is_err() {
        return 1;
    }
    if let Some(f) = formatter.as_mut() {
        if let Err(e) = f.finish(out) {
            eprintln!("cat: write error: {}", strerror(&e));
            return 1;
        }
    }
    if read_stdin && closed_at_start(0) {
        // GNU cat closes a standard input it read, and reports that failing.
        eprintln!("cat: closing standard input: Bad file descriptor");
        status = 1;
    }
    if status == 0 && formatter.is_none() {
        // Exit 0 promises the bytes: no page of an input may still sit unread in stdout, and
        // no input may have shrunk under pages the reader took.
        for msg in tail.settle(out) {
            eprintln!("cat: {msg}");
            status = 1;
        }
    }
    status
}

/// Whether an input's end is worth announcing what follows it: a regular file big enough that
/// splicing its end beats copying it (below that, the settled tail copies it whole, which
/// costs no more than splicing).
fn shares(inf: FdInfo) -> bool {
    inf.kind == FdKind::File && inf.size > 64 << 10
}

/// The bytes the operands after this one will write, as far as their sizes are known now
/// (regular files by `stat`; anything else counts 0), summed only up to stdout's capacity:
/// that much following output pushes this file's shared pages out of the pipe, so its end
/// need not be copied. A file that turns out shorter is caught at the end ([`Tail::settle`]).
fn followed_by(next: &[OsString], out: BorrowedFd<'_>) -> u64 {
    let cap = out_cap(out);
    let mut sum = 0u64;
    for name in next {
        if sum >= cap || name == "-" {
            break;
        }
        match std::fs::metadata(name) {
            Ok(m) if m.is_file() => sum += m.len(),
            _ => break,
        }
    }
    sum
}

/// The capacity of the stdout pipe (the largest unprivileged pipe if it cannot be read).
fn out_cap(out: BorrowedFd<'_>) -> u64 {
    splicekit::sys::pipe_capacity(out).map_or(1 << 20, |c| c as u64)
}

/// Whether copying `input` onto stdout (the same regular file) could never end or would
/// overwrite bytes before they are read — GNU coreutils 9.6's rule, which refuses only those
/// cases: the input still has bytes to read, and the output either appends (the file grows
/// as fast as it is read) or is positioned past the input's read offset (the writer is ahead
/// of the reader). A writer at or behind the reader only rewrites bytes already read
/// (`cat fx fy 1<>fx`), and an input at its end has nothing left to clobber.
fn is_output(input: BorrowedFd<'_>, inf: &FdInfo, out: &FdInfo) -> bool {
    if inf.kind != FdKind::File || !inf.same_file(out) {
        return false;
    }
    let here = |fd| rustix::fs::seek(fd, rustix::fs::SeekFrom::Current(0)).ok();
    let Some(read_at) = here(input) else {
        return false;
    };
    if read_at >= inf.size {
        return false;
    }
    if out.append {
        return true;
    }
    let stdout = std::io::stdout();
    here(stdout.as_fd()).is_some_and(|write_at| write_at > read_at)
}

#[allow(clippy::too_many_arguments)]
fn fast_copy(
    input: BorrowedFd<'_>,
    known: Option<FdInfo>,
    out: BorrowedFd<'_>,
    report: bool,
    name: &str,
    tick: Option<&dyn Fn(u64)>,
    followed_by: u64,
    tail: &mut Tail,
) -> Result<(), (Side, io::Error)> {
    let opts = CopyOptions {
        followed_by,
        ..CopyOptions::zero_copy()
    };
    if let Some(tick) = tick {
        // With a progress line: 1 MiB per engine call, counted as it goes.
        return super::pv::copy_counted(
            input,
            out,
            &opts,
            &|| 1 << 20,
            None,
            &mut |n| tick(n),
            tail,
        )
        .map_err(|e| (e.side(), e.into_io_error()));
    }
    let copied = match &known {
        Some(info) => copy_classified(input, info, out, &opts),
        None => copy_with(input, out, &opts),
    };
    match copied {
        Ok(r) => {
            tail.after(&r);
            if r.copied_tail < r.bytes && followed_by > 0 {
                // Its last shared pages wait for the next inputs to push them out.
                let pos = rustix::fs::seek(input, rustix::fs::SeekFrom::Current(0));
                let end = pos.map_or(0, |p| p - r.copied_tail);
                if let Err(msg) = tail.watch(name, input, end) {
                    return Err((Side::Input, io::Error::other(msg)));
                }
            }
            if report {
                eprintln!(
                    "cat: {name}: {} bytes by {} in {} calls",
                    r.bytes, r.strategy, r.syscalls
                );
            }
            Ok(())
        }
        Err(e) => {
            if report {
                eprintln!("cat: {name}: {e}");
            }
            let side = e.side();
            Err((side, e.into_io_error()))
        }
    }
}
