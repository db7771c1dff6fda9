//! `splice man [COMMAND]` and `splice completions bash|zsh|fish`: manual pages (roff) and
//! shell completions generated from the argument definitions — the drop-in tools' GNU-style
//! option tables (`getopt::Spec`) with each option's line of `--help`, and `relay`'s and
//! `bench`'s clap definitions — by `clap_mangen` and `clap_complete`.

use std::ffi::OsString;

use clap::{Arg, ArgAction, Command, CommandFactory};

use super::getopt::Spec;

/// A drop-in tool's command: its options from `specs`, each with the text its `--help` line
/// gives it; the usage line, summary and closing notes from `help`.
fn from_specs(name: &'static str, specs: &[Spec], help: &'static str) -> Command {
    let lines: Vec<&str> = help.lines().collect();
    let summary = lines.get(1).copied().unwrap_or_default();
    // Text after the option list: the notes (exit status and such).
    let last_opt = lines.iter().rposition(|l| l.trim_start().starts_with('-'));
    let notes = last_opt.map_or(String::new(), |i| {
        lines[i + 1..]
            .iter()
            .skip_while(|l| l.starts_with("  "))
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_string()
    });
    // The one-line description `splice --help` gives the tool.
    let tool = if name == "yes" { "gen" } else { name };
    let about = super::USAGE
        .lines()
        .find_map(|l| {
            l.trim_start()
                .strip_prefix(tool)
                .filter(|r| r.starts_with("  "))
        })
        .map_or(summary, str::trim);
    let mut cmd = Command::new(name)
        .about(about)
        .long_about(
            lines[1..]
                .iter()
                .take_while(|l| !l.trim().is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("\n"),
        )
        .after_help(notes)
        .disable_help_flag(true)
        .disable_version_flag(true)
        .arg(
            Arg::new("FILE")
                .num_args(0..)
                .value_hint(clap::ValueHint::FilePath),
        );
    for s in specs {
        let id = s
            .long
            .map(str::to_string)
            .unwrap_or_else(|| s.short.map(|c| c.to_string()).unwrap_or_default());
        let (text, value) = option_help(help, s);
        let mut a = Arg::new(id).help(text);
        if let Some(v) = value {
            a = a.value_name(v);
        }
        if let Some(c) = s.short {
            a = a.short(c);
        }
        if let Some(l) = s.long {
            a = a.long(l);
        }
        a = match s.arg {
            None => a.action(ArgAction::SetTrue),
            Some(true) => a.action(ArgAction::Set).num_args(1),
            Some(false) => a
                .action(ArgAction::Set)
                .num_args(0..=1)
                .require_equals(true),
        };
        cmd = cmd.arg(a);
    }
    cmd
}

/// The text of `s`'s line in `help` (`  -n, --number    number all output lines`), with its
/// continuation lines, and the name of its value (`-s, --size SIZE`).
fn option_help(help: &str, s: &Spec) -> (String, Option<String>) {
    let lines: Vec<&str> = help.lines().collect();
    let names = [
        s.long.map(|l| format!("--{l}")),
        s.short.map(|c| format!("-{c}")),
    ];
    let starts = |l: &str, n: &str| {
        let t = l.trim_start();
        t.starts_with('-') && t.split([',', ' ', '=', '[']).take(3).any(|w| w == n)
    };
    let Some(i) = names
        .iter()
        .flatten()
        .find_map(|n| lines.iter().position(|l| starts(l, n)))
    else {
        return (String::new(), None);
    };
    // The description starts after the first gap of two spaces past the names.
    let first = lines[i].trim_start();
    let (names_part, text) = first
        .find("  ")
        .map_or((first, ""), |p| (&first[..p], first[p..].trim()));
    let value = names_part
        .rsplit([' ', '='])
        .next()
        .filter(|w| w.starts_with(|c: char| c.is_ascii_uppercase() || c == '['))
        .map(|w| match w.strip_suffix(']') {
            // `--output-error[=MODE]`: the value's name is `MODE`.
            Some(v) if !v.contains('[') => v.to_string(),
            _ => w.to_string(),
        });
    let mut out = text.to_string();
    for l in &lines[i + 1..] {
        if l.trim_start().starts_with('-') || !l.starts_with("     ") || l.trim().is_empty() {
            break;
        }
        out.push(' ');
        out.push_str(l.trim());
    }
    (out, value)
}

/// The command `name` stands for (a link name such as `yes` as the tool it runs).
fn command(name: &str) -> Option<Command> {
    Some(match name {
        "cat" => from_specs("cat", super::cat::SPECS, super::cat::HELP),
        "tee" => from_specs("tee", super::tee::SPECS, super::tee::HELP),
        "pv" => from_specs("pv", super::pv::SPECS, super::pv::HELP),
        "gen" => from_specs("gen", super::gen::SPECS, super::gen::HELP),
        "yes" => from_specs("yes", super::gen::SPECS, super::gen::HELP),
        "relay" => super::relay::Args::command().name("relay"),
        "bench" => super::bench::Args::command().name("bench"),
        _ => return None,
    })
}

/// `splice` with every tool as a subcommand.
fn splice() -> Command {
    let mut c = Command::new("splice")
        .version(env!("CARGO_PKG_VERSION"))
        .about("cat, tee, pv, yes and a TCP relay over Linux's splice, vmsplice and tee")
        .long_about(super::USAGE);
    for t in super::TOOLS {
        if let Some(sub) = command(t) {
            c = c.subcommand(sub);
        }
    }
    c.subcommand(
        Command::new("man")
            .about("print a manual page (roff)")
            .arg(Arg::new("COMMAND")),
    )
    .subcommand(
        Command::new("completions")
            .about("print shell completions")
            .arg(Arg::new("SHELL").value_parser(["bash", "zsh", "fish"])),
    )
}

/// `splice man [COMMAND]`: the manual page of COMMAND (or of `splice`) on stdout.
pub fn man(args: &[OsString]) -> u8 {
    let name = args.first().map(|a| a.to_string_lossy().into_owned());
    let cmd = match name.as_deref() {
        None | Some("splice") => splice(),
        Some(n) => match command(n) {
            Some(c) => c.version(env!("CARGO_PKG_VERSION")),
            None => {
                eprintln!("splice: man: no manual for '{n}'");
                return 2;
            }
        },
    };
    let mut out = Vec::new();
    if let Err(e) = clap_mangen::Man::new(cmd).render(&mut out) {
        eprintln!("splice: man: {e}");
        return 1;
    }
    crate::util::print_all(&out)
}

/// `splice completions bash|zsh|fish`: a completion script for `splice` on stdout.
pub fn completions(args: &[OsString]) -> u8 {
    use clap_complete::Shell;
    let shell = match args.first().map(|a| a.to_string_lossy()).as_deref() {
        Some("bash") => Shell::Bash,
        Some("zsh") => Shell::Zsh,
        Some("fish") => Shell::Fish,
        other => {
            eprintln!(
                "splice: completions: give bash, zsh or fish{}",
                other.map(|o| format!(" (not '{o}')")).unwrap_or_default()
            );
            return 2;
        }
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut splice(), "splice", &mut out);
    crate::util::print_all(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_a_valid_command() {
        splice().debug_assert();
        for t in super::super::APPLETS {
            command(t).expect(t).debug_assert();
        }
    }

    #[test]
    fn option_lines_come_from_help() {
        let cat = command("cat").unwrap();
        let n = cat
            .get_arguments()
            .find(|a| a.get_id() == "number")
            .unwrap();
        assert_eq!(n.get_help().unwrap().to_string(), "number all output lines");
        let pv = command("pv").unwrap();
        let d = pv
            .get_arguments()
            .find(|a| a.get_id() == "watchfd")
            .unwrap();
        let h = d.get_help().unwrap().to_string();
        assert!(
            h.starts_with("show how far process PID") && h.contains("@FILE"),
            "{h}"
        );
    }
}
