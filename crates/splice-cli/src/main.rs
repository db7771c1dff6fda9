//! `splice`: cat, tee, pv, relay, gen and bench over Linux's splice architecture.
//!
//! `main` picks the tool (from the program name, so a link named `cat` acts as `cat`, or from
//! the first argument), runs it, and turns its result into the exit status.

mod cmd;
mod quote;
mod util;

use std::ffi::OsString;
use std::process::ExitCode;

/// The binary's logger: `SPLICE_LOG=debug` (or `trace`) prints the library's log records on
/// stderr as `splicekit: …`; the library itself never prints.
struct Stderr;

impl log::Log for Stderr {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            eprintln!("{}: {}", r.target(), r.args());
        }
    }
    fn flush(&self) {}
}

fn init_log() {
    let level = match std::env::var("SPLICE_LOG").as_deref() {
        Ok("debug") => log::LevelFilter::Debug,
        Ok("trace") => log::LevelFilter::Trace,
        _ => return,
    };
    if log::set_logger(&Stderr).is_ok() {
        log::set_max_level(level);
    }
}

fn main() -> ExitCode {
    init_log();
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let prog = args
        .first()
        .and_then(|a| {
            std::path::Path::new(a)
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let tool = if cmd::is_tool(&prog) {
        prog
    } else if args.len() > 1 {
        args.remove(1).to_string_lossy().into_owned()
    } else {
        eprintln!("{}", cmd::USAGE);
        return ExitCode::from(2);
    };
    ExitCode::from(cmd::run(&tool, &args[1..]))
}
