//! pv 1.9's `-x SPEC` (`--extra-display`): the progress line also goes to the terminal
//! window's title and/or the process title `ps` shows. SPEC is a comma-separated list of
//! `windowtitle`/`window` and `processtitle`/`proctitle`/`process`/`proc`, optionally
//! followed by `:FORMAT` (else the terminal line's format). Colours are not used there.

use std::io::Write;

use super::meter::{Look, Reading};

/// Where else the display goes, and in what format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extra {
    window: bool,
    process: bool,
    format: Option<String>,
}

/// Parses `-x`'s SPEC.
pub fn parse(spec: &str) -> Result<Extra, String> {
    let (names, format) = match spec.split_once(':') {
        Some((n, f)) => (n, Some(f.to_string())),
        None => (spec, None),
    };
    let mut x = Extra {
        window: false,
        process: false,
        format,
    };
    for name in names.split(',') {
        match name {
            "windowtitle" | "window" => x.window = true,
            "processtitle" | "proctitle" | "process" | "proc" => x.process = true,
            _ => return Err(format!("{name}: unknown extra display type")),
        }
    }
    Ok(x)
}

impl Extra {
    /// Shows `now` in the window title (an xterm OSC 2 sequence on stderr) and the process
    /// title.
    pub fn show(&self, look: &Look, now: &Reading, cols: usize, err: &mut impl Write) {
        let fmt = match (&self.format, &look.format) {
            (Some(f), _) | (None, Some(f)) => f.clone(),
            (None, None) => super::format::from_switches(look),
        };
        let line = super::format::render(&fmt, look, now, cols, false);
        if self.window {
            let _ = write!(err, "\x1b]2;{line}\x1b\\");
        }
        if self.process {
            let _ = set_process_title(&line);
        }
    }
}

/// Rewrites the command line `ps` shows for this process (`/proc/self/cmdline`): the bytes
/// between the kernel's `arg_start` and `arg_end` (fields 48 and 49 of `/proc/self/stat`),
/// through `/proc/self/mem`, cut to that length and padded with NULs. As C's setproctitle,
/// this overwrites the original argument strings: the CLI has copied them before any display
/// starts and never reads them again.
pub fn set_process_title(title: &str) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The fields after the command name (which may hold spaces) in parentheses.
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let field = |n: usize| -> Option<u64> { after.split_whitespace().nth(n - 3)?.parse().ok() };
    let bad = || std::io::Error::from(std::io::ErrorKind::InvalidData);
    let (start, end) = (field(48).ok_or_else(bad)?, field(49).ok_or_else(bad)?);
    let len = end.checked_sub(start).filter(|&l| l > 1).ok_or_else(bad)? as usize;
    let mut area = vec![0u8; len];
    let text = &title.as_bytes()[..title.len().min(len - 1)];
    area[..text.len()].copy_from_slice(text);
    let mem = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/mem")?;
    mem.write_all_at(&area, start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_as_pvs() {
        let x = parse("window,process:%t %b").unwrap();
        assert!(x.window && x.process);
        assert_eq!(x.format.as_deref(), Some("%t %b"));
        let x = parse("proctitle").unwrap();
        assert!(!x.window && x.process && x.format.is_none());
        assert!(parse("screen").is_err());
    }
}
