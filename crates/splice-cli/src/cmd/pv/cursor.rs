//! pv's `-c`: each `splice pv` of a pipeline draws on its own terminal row, placed with cursor
//! positioning instead of a carriage return, so several meters do not overwrite each other.
//!
//! The meters of one job on one terminal share a small state file in the temp directory
//! (`splice-pv-cursor.UID.TTY.PGID`, under `flock`): the first asks the terminal where the
//! cursor is (`ESC [6n`), and each takes the next row below it. When the rows would run
//! past the bottom of the screen, the newcomer scrolls it up a line and moves the top row
//! up for all. The last one to finish puts the cursor below the rows and removes the file.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rustix::fs::{flock, FlockOperation};
use rustix::termios::{tcgetattr, tcgetwinsize, tcsetattr, LocalModes, OptionalActions};

/// A meter's own row on the terminal.
pub struct Cursor {
    tty: File,
    state: File,
    path: PathBuf,
    index: u32,
}

/// The shared state: the first row, how many meters took a row, how many still draw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Rows {
    top: u32,
    taken: u32,
    active: u32,
}

fn load(f: &mut File) -> Option<Rows> {
    let mut s = String::new();
    rustix::fs::seek(f.as_fd(), rustix::fs::SeekFrom::Start(0)).ok()?;
    f.read_to_string(&mut s).ok()?;
    let n: Vec<u32> = s
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    match n[..] {
        [top, taken, active] => Some(Rows { top, taken, active }),
        _ => None,
    }
}

fn store(f: &mut File, r: Rows) {
    let _ = f.set_len(0);
    let _ = rustix::fs::seek(f.as_fd(), rustix::fs::SeekFrom::Start(0));
    let _ = write!(f, "{} {} {}", r.top, r.taken, r.active);
}

impl Cursor {
    /// Takes a row for this meter; `None` (draw with `\r`) when stderr is no terminal or the
    /// terminal does not answer where its cursor is.
    pub fn take() -> Option<Cursor> {
        let err = std::io::stderr();
        if !rustix::termios::isatty(err.as_fd()) {
            return None;
        }
        let tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .ok()?;
        let rdev = std::fs::metadata("/dev/stderr").ok()?.rdev();
        let uid = rustix::process::getuid().as_raw();
        let pgid = rustix::process::getpgrp().as_raw_nonzero().get();
        let path = std::env::temp_dir().join(format!("splice-pv-cursor.{uid}.{rdev:x}.{pgid}"));
        let mut state = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&path)
            .ok()?;
        flock(state.as_fd(), FlockOperation::LockExclusive).ok()?;
        let mut rows = match load(&mut state).filter(|r| r.active > 0) {
            Some(r) => r,
            None => Rows {
                top: cursor_row(&tty)?,
                ..Rows::default()
            },
        };
        let index = rows.taken;
        let height = tcgetwinsize(tty.as_fd()).map_or(24, |w| u32::from(w.ws_row).max(1));
        if rows.top + index > height {
            // No row left below: scroll the screen up one line, the meters' rows with it.
            let _ = (&tty).write_all(format!("\x1b[{height};1H\n").as_bytes());
            rows.top = rows.top.saturating_sub(1).max(1);
        }
        rows.taken += 1;
        rows.active += 1;
        store(&mut state, rows);
        let _ = flock(state.as_fd(), FlockOperation::Unlock);
        Some(Cursor {
            tty,
            state,
            path,
            index,
        })
    }

    fn rows(&mut self) -> Rows {
        load(&mut self.state).unwrap_or_default()
    }

    /// Draws `line` on this meter's row and clears the rest of it, in one write: pieces
    /// written apart could land after another meter (or the shell) moved the cursor.
    pub fn draw(&mut self, line: &str) {
        let row = self.rows().top.max(1) + self.index;
        let frame = format!("\x1b[{row};1H{line}\x1b[K");
        let _ = (&self.tty).write_all(frame.as_bytes());
    }

    /// Gives the row up; the last meter puts the cursor below all the rows.
    pub fn finish(mut self) {
        let _ = flock(self.state.as_fd(), FlockOperation::LockExclusive);
        let mut rows = self.rows();
        rows.active = rows.active.saturating_sub(1);
        if rows.active == 0 {
            let below = format!("\x1b[{};1H", rows.top.max(1) + rows.taken);
            let _ = (&self.tty).write_all(below.as_bytes());
            let _ = std::fs::remove_file(&self.path);
        } else {
            store(&mut self.state, rows);
        }
        let _ = flock(self.state.as_fd(), FlockOperation::Unlock);
    }
}

/// Asks the terminal for the cursor's row (`ESC [6n`, answered `ESC [row;colR`), with echo
/// and line buffering off for the answer, restored after; at most one second.
fn cursor_row(tty: &File) -> Option<u32> {
    let saved = tcgetattr(tty.as_fd()).ok()?;
    let mut raw = saved.clone();
    raw.local_modes &= !(LocalModes::ICANON | LocalModes::ECHO);
    tcsetattr(tty.as_fd(), OptionalActions::Now, &raw).ok()?;
    let answer = (|| {
        let mut t = tty;
        t.write_all(b"\x1b[6n").ok()?;
        let start = Instant::now();
        let mut got = Vec::new();
        while !got.ends_with(b"R") && got.len() < 32 {
            let left = Duration::from_secs(1).checked_sub(start.elapsed())?;
            let mut fds = [rustix::event::PollFd::new(
                tty,
                rustix::event::PollFlags::IN,
            )];
            let ts = rustix::event::Timespec::try_from(left).ok()?;
            if rustix::event::poll(&mut fds, Some(&ts)).ok()? == 0 {
                return None;
            }
            let mut b = [0u8; 1];
            if t.read(&mut b).ok()? == 0 {
                return None;
            }
            got.push(b[0]);
        }
        let s = String::from_utf8_lossy(&got);
        let body = s.rsplit("\x1b[").next()?.strip_suffix('R')?;
        body.split(';').next()?.parse().ok()
    })();
    let _ = tcsetattr(tty.as_fd(), OptionalActions::Now, &saved);
    answer
}
