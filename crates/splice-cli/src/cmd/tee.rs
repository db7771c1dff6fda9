//! `splice tee`: a drop-in for GNU tee over [`splicekit::FanOut`] — standard input to standard
//! output and every FILE, by `tee(2)` and `splice(2)` where the descriptors allow it.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;

use splicekit::{Action, FanOut};

use super::getopt::{self, Spec};
use crate::quote::quote;
use crate::util::{closed_at_start, strerror};

pub(crate) const SPECS: &[Spec] = &[
    Spec {
        short: Some('a'),
        long: Some("append"),
        arg: None,
        key: "a",
    },
    Spec {
        short: Some('i'),
        long: Some("ignore-interrupts"),
        arg: None,
        key: "i",
    },
    Spec {
        short: Some('p'),
        long: None,
        arg: None,
        key: "p",
    },
    Spec {
        short: None,
        long: Some("output-error"),
        arg: Some(false),
        key: "output-error",
    },
    Spec {
        short: None,
        long: Some("progress"),
        arg: None,
        key: "progress",
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
];

pub(crate) const HELP: &str = "\
Usage: tee [OPTION]... [FILE]...
Copy standard input to each FILE, and also to standard output. The bytes move inside the
kernel (tee(2) into pipes, splice(2) into files and sockets) and are copied only for outputs
that refuse splice.

  -a, --append              append to the given FILEs, do not overwrite
  -i, --ignore-interrupts   ignore interrupt signals
  -p                        diagnose errors writing to non pipes
      --output-error[=MODE]   set behavior on write error.  See MODE below
      --progress    show pv's progress line on stderr
      --help        display this help and exit
      --version     output version information and exit

MODE determines behavior with write errors on the outputs:
  warn           diagnose errors writing to any output
  warn-nopipe    diagnose errors writing to any output not a pipe
  exit           exit on error writing to any output
  exit-nopipe    exit on error writing to any output not a pipe
The default MODE for the -p option is 'warn-nopipe'.
The default operation when --output-error is not specified, is to
exit immediately on error writing to a pipe, and diagnose errors
writing to non pipe outputs.";

/// GNU tee's `--output-error` modes, plus the default (die by SIGPIPE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Sigpipe,
    Warn,
    WarnNoPipe,
    Exit,
    ExitNoPipe,
}

const MODES: [(&str, Mode); 4] = [
    ("warn", Mode::Warn),
    ("warn-nopipe", Mode::WarnNoPipe),
    ("exit", Mode::Exit),
    ("exit-nopipe", Mode::ExitNoPipe),
];

fn usage_error(msg: &str) -> u8 {
    eprintln!("tee: {msg}\nTry 'tee --help' for more information.");
    1
}

/// Runs `tee` with `args`; returns the exit status.
pub fn main(args: &[OsString]) -> u8 {
    let (found, operands) = match getopt::parse(SPECS, args) {
        Ok(x) => x,
        Err(msg) => return usage_error(&msg),
    };
    let (mut append, mut ignore_int, mut mode) = (false, false, Mode::Sigpipe);
    let mut progress = false;
    for f in &found {
        match f.key {
            "a" => append = true,
            "i" => ignore_int = true,
            "p" => mode = Mode::WarnNoPipe,
            "progress" => progress = true,
            // As in GNU tee, a bare --output-error means warn-nopipe, like -p.
            "output-error" => match f.value.as_deref() {
                None => mode = Mode::WarnNoPipe,
                Some(v) => match parse_mode(v) {
                    Ok(m) => mode = m,
                    Err(msg) => {
                        eprintln!("tee: {msg}\nTry 'tee --help' for more information.");
                        return 1;
                    }
                },
            },
            "help" => {
                println!("{HELP}");
                return 0;
            }
            "version" => {
                println!("tee (splice) {}", env!("CARGO_PKG_VERSION"));
                return 0;
            }
            _ => {}
        }
    }
    // As GNU tee: SIGPIPE kills by default (unless the parent ignored it); with an
    // --output-error mode, EPIPE is an error like the others.
    let _ = if mode == Mode::Sigpipe {
        splicekit::sys::restore_sigpipe_inherited()
    } else {
        splicekit::sys::ignore_sigpipe()
    };
    if ignore_int {
        let _ = splicekit::sys::ignore_sigint();
    }
    run(&operands, append, mode, progress)
}

/// GNU's argmatch: exact names or unambiguous prefixes.
fn parse_mode(v: &str) -> Result<Mode, String> {
    if let Some(&(_, m)) = MODES.iter().find(|(n, _)| *n == v) {
        return Ok(m);
    }
    let hits: Vec<Mode> = MODES
        .iter()
        .filter(|(n, _)| !v.is_empty() && n.starts_with(v))
        .map(|&(_, m)| m)
        .collect();
    if hits.len() == 1 {
        return Ok(hits[0]);
    }
    let what = if hits.is_empty() {
        "invalid"
    } else {
        "ambiguous"
    };
    let list: String = MODES.iter().map(|(n, _)| format!("\n  - ‘{n}’")).collect();
    Err(format!(
        "{what} argument ‘{v}’ for ‘--output-error’\nValid arguments are:{list}"
    ))
}

fn run(operands: &[OsString], append: bool, mode: Mode, progress: bool) -> u8 {
    let stdin_size = progress
        .then(|| super::pv::total_size(&["-".into()]))
        .flatten();
    let meter = super::pv::meter::progress(progress, stdin_size);
    let tick = |n: u64| super::pv::meter::tick(&meter, n);
    let mut status = 0;
    let mut names = vec!["'standard output'".to_string()];
    let mut files: Vec<File> = Vec::new();
    for op in operands {
        let mut o = OpenOptions::new();
        o.write(true).create(true).mode(0o666);
        if append {
            o.append(true);
        } else {
            o.truncate(true);
        }
        match o.open(op) {
            Ok(f) => {
                files.push(f);
                names.push(quote(op));
            }
            Err(e) => {
                eprintln!("tee: {}: {}", quote(op), strerror(&e));
                // GNU tee: in the exit modes a file that cannot be opened ends the run before
                // any byte is copied.
                if matches!(mode, Mode::Exit | Mode::ExitNoPipe) {
                    return 1;
                }
                status = 1;
            }
        }
    }
    let stdout = io::stdout();
    // With -p or --output-error, GNU tee (9.3+) polls its outputs while the input is idle
    // and stops as soon as every output pipe's reader has gone.
    let mut fan = FanOut::new()
        .on_progress(&tick)
        .watch_outputs(mode != Mode::Sigpipe)
        .output(&stdout);
    for f in &files {
        fan = fan.output(f);
    }
    let stdin = io::stdin();
    let res = fan.run_with(&stdin, |i, e| {
        // GNU tee: EPIPE (a pipe whose reader left) drops that output silently except in
        // the warn and exit modes; every other error is reported.
        let epipe = e.io_error().kind() == io::ErrorKind::BrokenPipe;
        let fail = !epipe || matches!(mode, Mode::Warn | Mode::Exit);
        if fail {
            eprintln!("tee: {}: {}", names[i], strerror(e.io_error()));
            status = 1;
        }
        if fail && matches!(mode, Mode::Exit | Mode::ExitNoPipe) {
            Action::Stop
        } else {
            Action::Detach
        }
    });
    let status = match res {
        Ok(_) => status,
        Err(e) if e.output.is_none() => {
            eprintln!("tee: read error: {}", strerror(e.error.io_error()));
            1
        }
        Err(_) => 1, // an output error in an exit mode, already reported
    };
    if closed_at_start(0) {
        // GNU tee closes its standard input at the end and reports that failing.
        eprintln!("tee: standard input: Bad file descriptor");
        return 1;
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_match_exactly_or_by_unambiguous_prefix() {
        assert_eq!(parse_mode("warn"), Ok(Mode::Warn));
        assert_eq!(parse_mode("warn-"), Ok(Mode::WarnNoPipe));
        assert_eq!(parse_mode("exit-n"), Ok(Mode::ExitNoPipe));
        assert!(parse_mode("e")
            .unwrap_err()
            .starts_with("ambiguous argument ‘e’"));
        assert!(parse_mode("bogus")
            .unwrap_err()
            .starts_with("invalid argument ‘bogus’"));
    }
}
