//! One file per subcommand; this module dispatches by name.

use std::ffi::OsString;

pub mod bench;
pub mod cat;
mod cat_format;
mod gather;
pub mod gen;
pub(crate) mod getopt;
pub mod pv;
pub mod relay;
pub mod tee;

/// The tools the binary can act as.
const TOOLS: [&str; 6] = ["cat", "tee", "pv", "relay", "gen", "bench"];

pub const USAGE: &str = "\
usage: splice <command> [args...]

commands:
  cat     concatenate files to standard output (drop-in for GNU cat)
  tee     copy standard input to standard output and files (drop-in for GNU tee)
  pv      move data to standard output, showing progress (like pv, without copying)
  relay   relay TCP or Unix stream connections to an upstream, socket to socket by splice
  gen     generate bytes (like yes, zeros or seeded random) at memory speed
  bench   measure every copy path against read/write on generated data

A link to this binary named after a command (e.g. `cat`) runs that command.";

/// Whether `name` is a tool this binary implements.
pub fn is_tool(name: &str) -> bool {
    TOOLS.contains(&name)
}

/// Runs tool `name` with `args` (program name excluded); returns the exit status.
pub fn run(name: &str, args: &[OsString]) -> u8 {
    match name {
        "cat" => cat::main(args),
        "tee" => tee::main(args),
        "pv" => pv::main(args),
        "relay" => relay::main(args),
        "gen" => gen::main(args),
        "bench" => bench::main(args),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            0
        }
        other => {
            eprintln!("splice: unknown command '{other}'\n{USAGE}");
            2
        }
    }
}
