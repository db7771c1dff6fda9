//! `splice`: cat, tee, pv, relay, gen and bench over Linux's splice architecture.
//!
//! `main` picks the tool (from the program name, so a link named `cat` acts as `cat`, or from
//! the first argument), runs it, and turns its result into the exit status.

mod cmd;
mod quote;
mod util;

use std::ffi::OsString;
use std::process::ExitCode;

fn main() -> ExitCode {
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
