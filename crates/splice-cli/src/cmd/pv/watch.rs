//! pv's `-d` (`--watchfd`): no transfer of its own — the display follows how far other
//! processes have got in the files they read or write, from `/proc/PID/fdinfo/FD` (the
//! position) and the file behind `/proc/PID/fd/FD` (the size, when opened for reading).
//!
//! `-d PID:FD` watches one descriptor on one line, until it closes. `-d PID` watches every
//! regular file and block device the process has open (new ones as they appear), one line
//! each named `  FD:path`, until the process exits. As in pv 1.9, `-d` may be given more than
//! once (further operands are more targets), `=NAME` watches the processes `pgrep NAME`
//! lists and `@FILE` the targets listed in FILE, one per line.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use super::meter::{Gauge, Look, Meter};

/// One `-d` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `PID` (every file it has open) or `PID:FD`.
    Pid { pid: u32, fd: Option<u32> },
    /// `=NAME`: the processes `pgrep NAME` finds.
    Name(String),
    /// `@FILE`: targets listed in FILE.
    List(String),
}

/// Parses `PID`, `PID:FD`, `=NAME` or `@FILE` (pv 1.9's messages for bad ones).
pub fn parse(v: &str) -> Result<Target, String> {
    if let Some(name) = v.strip_prefix('=') {
        return match name {
            "" => Err("-d =: missing process name".into()),
            n => Ok(Target::Name(n.into())),
        };
    }
    if let Some(file) = v.strip_prefix('@') {
        if file.is_empty() {
            return Err("-d @: missing filename".into());
        }
        if let Err(e) = std::fs::File::open(file) {
            return Err(format!("-d @: {file}: {}", crate::util::strerror(&e)));
        }
        return Ok(Target::List(file.into()));
    }
    let bad = || "-d: process ID or pid:fd pair expected".to_string();
    let (p, f) = match v.split_once(':') {
        Some((p, f)) => (p, Some(f.parse().map_err(|_| bad())?)),
        None => (v, None),
    };
    let pid: u32 = p.parse().map_err(|_| bad())?;
    if pid == 0 {
        return Err("-d: invalid process ID".into());
    }
    Ok(Target::Pid { pid, fd: f })
}

/// The `PID`/`PID:FD` pairs `targets` stand for (names looked up, lists read).
fn resolve(targets: &[Target]) -> Vec<(u32, Option<u32>)> {
    let mut out = Vec::new();
    for t in targets {
        match t {
            Target::Pid { pid, fd } => out.push((*pid, *fd)),
            Target::Name(n) => {
                let found = std::process::Command::new("pgrep")
                    .arg("--")
                    .arg(n)
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                let me = std::process::id();
                out.extend(
                    found
                        .lines()
                        .filter_map(|l| l.trim().parse().ok())
                        .filter(|&p| p != me)
                        .map(|p| (p, None)),
                );
            }
            Target::List(f) => {
                let text = std::fs::read_to_string(f).unwrap_or_default();
                let listed: Vec<Target> = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with(['@', '=']))
                    .filter_map(|l| parse(l).ok())
                    .collect();
                out.extend(resolve(&listed));
            }
        }
    }
    out
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

/// A descriptor worth a line of `-d PID`: a regular file or block device, with its size when
/// it is open for reading only (pv: a file being written has no known end), and the
/// file's identity (a descriptor reused for another file is another line).
fn watchable(pid: u32, fd: u32) -> Option<(Option<u64>, (u64, u64))> {
    let path = format!("/proc/{pid}/fd/{fd}");
    let m = std::fs::metadata(&path).ok()?;
    let link = std::fs::symlink_metadata(&path).ok()?;
    let ft = m.file_type();
    use std::os::unix::fs::FileTypeExt;
    if !(ft.is_file() || ft.is_block_device()) {
        return None;
    }
    let size = if link.mode() & 0o200 != 0 {
        None
    } else if ft.is_file() {
        Some(m.len())
    } else {
        std::fs::File::open(&path)
            .ok()
            .and_then(|mut f| std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0)).ok())
    };
    Some((size, (m.dev(), m.ino())))
}

/// pv's name for a watched descriptor: `%4d:path`, the path relative to the current
/// directory when under it, its middle cut to `...` past half the width less 6.
fn display_name(pid: u32, fd: u32, width: usize) -> String {
    let target = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap_or_default();
    let mut path = target.to_string_lossy().into_owned();
    if let Ok(cwd) = std::env::current_dir() {
        let cwd = cwd.to_string_lossy().into_owned();
        if let Some(rest) = path.strip_prefix(&format!("{cwd}/")) {
            path = rest.to_string();
        }
    }
    let chars: Vec<char> = path.chars().collect();
    let max = (width / 2).saturating_sub(6);
    if chars.len() <= max {
        return format!("{fd:>4}:{path}");
    }
    let pre = max / 4;
    let suf = max.saturating_sub(pre + 3);
    let head: String = chars[..pre].iter().collect();
    let tail: String = chars[chars.len() - suf.min(chars.len())..].iter().collect();
    format!("{fd:>4}:{head}...{tail}")
}

/// Watches `targets` with `look`'s display (`show`: drawn at all); returns pv's status.
pub fn run(targets: &[Target], look: Look, show: bool) -> u8 {
    let pairs = resolve(targets);
    if let [(pid, Some(fd))] = pairs[..] {
        return one(pid, fd, look, show);
    }
    if pairs.is_empty() {
        eprintln!("pv: -d: no process to watch");
        return 2;
    }
    let mut status = 0;
    for &(pid, _) in &pairs {
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("pv: pid {pid}: No such process");
            status |= 2;
        }
    }
    many(&pairs, look, show);
    status
}

/// `-d PID:FD`: one descriptor, one line, until it closes.
fn one(pid: u32, fd: u32, mut look: Look, show: bool) -> u8 {
    if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
        eprintln!("pv: pid {pid}: No such process");
        return 2;
    }
    let Some(mut last) = position(pid, fd) else {
        eprintln!("pv: pid {pid}: fd {fd}: No such file or directory");
        return 2;
    };
    if look.size.is_none() {
        look.size = regular_size(pid, fd);
    }
    let meter = show.then(|| Meter::start(look.clone()));
    if let Some(m) = &meter {
        m.add(last);
    }
    let step = look.interval.min(Duration::from_millis(100));
    while let Some(pos) = position(pid, fd) {
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

/// One line of a multi-descriptor watch.
struct Line {
    pid: u32,
    fd: u32,
    id: (u64, u64),
    look: Look,
    gauge: Gauge,
    pos: u64,
    open: bool,
}

/// `-d PID` (and several targets): a line per watched descriptor, redrawn in place (the
/// cursor goes back up over them), until every watched process is gone; the last frame
/// stays on the screen (pv 1.9).
fn many(pairs: &[(u32, Option<u32>)], look: Look, show: bool) {
    let width = look.width.unwrap_or(80);
    let mut lines: Vec<Line> = Vec::new();
    let mut drawn_rows = 0usize;
    loop {
        let mut alive = false;
        for &(pid, only) in pairs {
            let fds: Vec<u32> = match only {
                Some(fd) => vec![fd],
                None => std::fs::read_dir(format!("/proc/{pid}/fd"))
                    .map(|d| {
                        let mut v: Vec<u32> = d
                            .flatten()
                            .filter_map(|e| e.file_name().to_str()?.parse().ok())
                            .collect();
                        v.sort_unstable();
                        v
                    })
                    .unwrap_or_default(),
            };
            alive |= std::path::Path::new(&format!("/proc/{pid}")).exists();
            for fd in fds {
                let Some((size, id)) = watchable(pid, fd) else {
                    continue;
                };
                if lines
                    .iter()
                    .any(|l| l.pid == pid && l.fd == fd && l.id == id && l.open)
                {
                    continue;
                }
                let pos = position(pid, fd).unwrap_or(0);
                let mut look = Look {
                    size,
                    name: Some(display_name(pid, fd, width)),
                    ..look.clone()
                };
                if size.is_none() {
                    // pv: no known end, so no ETA and no finish time in this line's format.
                    let fmt = look
                        .format
                        .clone()
                        .unwrap_or_else(|| super::format::from_switches(&look));
                    look.format = Some(fmt.replace("%e", "").replace("%I", ""));
                }
                lines.push(Line {
                    pid,
                    fd,
                    id,
                    look,
                    gauge: Gauge::new(pos),
                    pos,
                    open: true,
                });
            }
        }
        for l in lines.iter_mut().filter(|l| l.open) {
            let same = watchable(l.pid, l.fd).is_some_and(|(_, id)| id == l.id);
            match position(l.pid, l.fd).filter(|_| same) {
                Some(p) => l.pos = p,
                None => l.open = false,
            }
        }
        let done = !alive;
        if show {
            let mut frame = String::new();
            let rows: Vec<String> = lines
                .iter_mut()
                .filter_map(|l| {
                    let now = l.gauge.read(&l.look, l.pos, done)?;
                    Some(super::meter::render(&l.look, &now, width))
                })
                .collect();
            for (i, row) in rows.iter().enumerate() {
                frame.push_str(row);
                if look.numeric {
                    frame.push('\n');
                } else if i + 1 < rows.len() {
                    frame.push_str("\r\n");
                }
            }
            if !look.numeric && !rows.is_empty() {
                // Rows a shorter frame no longer uses are blanked.
                for _ in rows.len()..drawn_rows {
                    frame.push_str("\r\n");
                    frame.push_str(&" ".repeat(width));
                }
                let total = drawn_rows.max(rows.len());
                if done {
                    frame.push('\n');
                } else {
                    // Back to the first row for the next frame.
                    frame.push('\r');
                    frame.push_str(&"\x1b[A".repeat(total - 1));
                }
                drawn_rows = total;
            }
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(frame.as_bytes());
        }
        if done {
            return;
        }
        std::thread::sleep(look.interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(parse("12"), Ok(Target::Pid { pid: 12, fd: None }));
        assert_eq!(
            parse("12:3"),
            Ok(Target::Pid {
                pid: 12,
                fd: Some(3)
            })
        );
        assert_eq!(parse("=sleep"), Ok(Target::Name("sleep".into())));
        assert!(parse("x").is_err());
        assert!(parse("12:").is_err());
        assert_eq!(parse("0"), Err("-d: invalid process ID".into()));
        assert_eq!(parse("="), Err("-d =: missing process name".into()));
        assert_eq!(parse("@"), Err("-d @: missing filename".into()));
    }
}
