//! One file per subcommand; this module dispatches by name.

use std::ffi::OsString;

pub mod bench;
pub mod cat;
mod cat_format;
mod docs;
mod gather;
pub mod gen;
pub(crate) mod getopt;
pub mod pv;
pub mod relay;
pub mod tee;

/// The tools the binary can act as.
const TOOLS: [&str; 6] = ["cat", "tee", "pv", "relay", "gen", "bench"];

/// The names a link to the binary may have (`yes` is `gen`'s drop-in name), as `--list`
/// prints them and `--install` makes them.
const APPLETS: [&str; 7] = ["cat", "tee", "pv", "yes", "relay", "gen", "bench"];

pub const USAGE: &str = "\
usage: splice <command> [args...]

commands:
  cat     concatenate files to standard output (drop-in for GNU cat)
  tee     copy standard input to standard output and files (drop-in for GNU tee)
  pv      move data to standard output, showing progress (like pv, without copying)
  relay   relay TCP or Unix stream connections to an upstream, socket to socket by splice
  gen     generate bytes (like yes, zeros or seeded random) at memory speed
  bench   measure every copy path against read/write on generated data

A link to this binary named after a command (e.g. `cat`, or `yes` for gen) runs that command.

  splice help COMMAND      the same as splice COMMAND --help
  splice --list            the names a link may have, one per line
  splice --install DIR     make those links in DIR (existing names are left alone)
  splice --version         the version
  splice man [COMMAND]     a manual page (roff), e.g. splice man cat | man -l -
  splice completions SHELL completions for bash, zsh or fish";

/// Whether `name` is a tool this binary implements (or a link name for one).
pub fn is_tool(name: &str) -> bool {
    TOOLS.contains(&name) || APPLETS.contains(&name)
}

/// `splice --install DIR`: a symbolic link to this binary for every applet name, as busybox
/// and uutils do; a name already present in DIR is reported and left alone (status 1).
fn install(dir: Option<&OsString>) -> u8 {
    let Some(dir) = dir else {
        eprintln!("splice: --install needs a directory\n{USAGE}");
        return 2;
    };
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!(
                "splice: cannot find this binary: {}",
                crate::util::strerror(&e)
            );
            return 1;
        }
    };
    let mut status = 0;
    for name in APPLETS {
        let link = std::path::Path::new(dir).join(name);
        if let Err(e) = std::os::unix::fs::symlink(&exe, &link) {
            let shown = crate::quote::quote(link.as_os_str());
            eprintln!("splice: {shown}: {}", crate::util::strerror(&e));
            status = 1;
        }
    }
    status
}

/// Runs tool `name` with `args` (program name excluded); returns the exit status.
pub fn run(name: &str, args: &[OsString]) -> u8 {
    match name {
        "cat" => cat::main(args),
        "tee" => tee::main(args),
        "pv" => pv::main(args),
        "relay" => relay::main(args),
        "gen" => gen::main(args),
        "yes" => gen::main_as("yes", args),
        "bench" => bench::main(args),
        "help" if !args.is_empty() && is_tool(&args[0].to_string_lossy()) => {
            run(&args[0].to_string_lossy(), &[OsString::from("--help")])
        }
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            0
        }
        "-V" | "--version" => {
            println!("splice {}", env!("CARGO_PKG_VERSION"));
            0
        }
        "--list" => {
            for a in APPLETS {
                println!("{a}");
            }
            0
        }
        "--install" => install(args.first()),
        "man" => docs::man(args),
        "completions" => docs::completions(args),
        other => {
            eprintln!("splice: unknown command '{other}'\n{USAGE}");
            2
        }
    }
}
