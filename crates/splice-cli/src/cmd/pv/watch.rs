//! pv's `-d PID[:FD]`: no transfer of its own — the display follows how far another process
//! has got in a file it reads or writes, from `/proc/PID/fdinfo/FD` (the position) and the
//! file behind `/proc/PID/fd/FD` (the size). Without `:FD`, the first regular file the
//! process has open is watched. The watch ends when the descriptor closes or the process
//! exits.

use std::time::Duration;

use super::meter::{Look, Meter};

/// Which descriptor of which process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub pid: u32,
    pub fd: Option<u32>,
}

/// Parses `PID` or `PID:FD`.
pub fn parse(v: &str) -> Result<Target, String> {
    let bad = || format!("{v}: invalid process ID or file descriptor");
    let (p, f) = match v.split_once(':') {
        Some((p, f)) => (p, Some(f.parse().map_err(|_| bad())?)),
        None => (v, None),
    };
    Ok(Target {
        pid: p.parse().map_err(|_| bad())?,
        fd: f,
    })
}

fn position(pid: u32, fd: u32) -> Option<u64> {
    let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("pos:"))
        .and_then(|p| p.trim().parse().ok())
}

fn regular_size(pid: u32, fd: u32) -> Option<u64> {
    let m = std::fs::metadata(format!("/proc/{pid}/fd/{fd}")).ok()?;
    m.is_file().then_some(m.len())
}

/// The first descriptor of `pid` open on a regular file.
fn first_file(pid: u32) -> Option<u32> {
    let mut fds: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    fds.into_iter().find(|&fd| regular_size(pid, fd).is_some())
}

/// Watches `t` with `look`'s display (shown, as pv does, whether or not stderr is a
/// terminal only with `-f`); returns pv's exit status.
pub fn run(t: Target, mut look: Look, show: bool) -> u8 {
    if !std::path::Path::new(&format!("/proc/{}", t.pid)).exists() {
        eprintln!("pv: pid {}: No such process", t.pid);
        return 2;
    }
    let Some(fd) = t.fd.or_else(|| first_file(t.pid)) else {
        eprintln!("pv: pid {}: no regular file open to watch", t.pid);
        return 2;
    };
    let Some(mut last) = position(t.pid, fd) else {
        eprintln!("pv: pid {}: fd {fd}: No such file or directory", t.pid);
        return 2;
    };
    if look.size.is_none() {
        look.size = regular_size(t.pid, fd);
    }
    let meter = show.then(|| Meter::start(look.clone()));
    if let Some(m) = &meter {
        m.add(last);
    }
    let step = look.interval.min(Duration::from_millis(100));
    while let Some(pos) = position(t.pid, fd) {
        if let Some(m) = &meter {
            m.add(pos.saturating_sub(last));
        }
        last = last.max(pos);
        std::thread::sleep(step);
    }
    // The descriptor closed: as pv does, the watched file counts as done.
    if let (Some(m), Some(size)) = (&meter, look.size) {
        m.add(size.saturating_sub(last));
    }
    if let Some(m) = meter {
        m.finish();
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(parse("12"), Ok(Target { pid: 12, fd: None }));
        assert_eq!(
            parse("12:3"),
            Ok(Target {
                pid: 12,
                fd: Some(3)
            })
        );
        assert!(parse("x").is_err());
        assert!(parse("12:").is_err());
    }
}
