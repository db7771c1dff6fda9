//! pv's `-R PID`: change the options of a running `splice pv`. pv uses its own IPC; ours is a
//! message file. The sender writes its arguments (NUL-separated) to
//! `$TMPDIR/splice-pv-remote.UID.PID` — created new with mode 0600 and renamed into place —
//! and waits for the file to go. Every running `splice pv` looks for its file a few times a
//! second; it takes only a regular file owned by its own user and writable by no one else,
//! removes it, and applies `-L`, `-s`, `-N`, `-i`, `-w`, `-F`, `-A` and the display
//! switches (`-p -t -e -I -r -a -b -T`, which then replace the ones shown).

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::meter::{Look, Meter};
use super::SPECS;
use crate::cmd::getopt::{self, Found};
use crate::util::{parse_pv_size, strerror};

/// How often a running pv looks for a message.
const POLL: Duration = Duration::from_millis(100);
/// How long a sender waits for its message to be taken.
const WAIT: Duration = Duration::from_millis(1500);

fn path(pid: u32) -> PathBuf {
    let uid = rustix::process::getuid().as_raw();
    std::env::temp_dir().join(format!("splice-pv-remote.{uid}.{pid}"))
}

/// Sends `args` (this run's options, `-R` among them) to the pv with process ID `pid`;
/// returns the exit status (0 once the message was taken, 1 otherwise).
pub fn send(pid: u32, args: &[OsString]) -> u8 {
    let fail = |why: String| {
        eprintln!("pv: {pid}: {why}");
        1
    };
    if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
        if let Err(e) = rustix::process::test_kill_process(p) {
            return fail(strerror(&e.into()));
        }
    }
    let dest = path(pid);
    let tmp = dest.with_extension(format!("new{}", std::process::id()));
    let mut msg = Vec::new();
    for a in args {
        msg.extend_from_slice(a.as_bytes());
        msg.push(0);
    }
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&tmp)
        .and_then(|mut f| f.write_all(&msg))
        .and_then(|()| std::fs::rename(&tmp, &dest));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return fail(format!("{}: {}", tmp.display(), strerror(&e)));
    }
    let start = Instant::now();
    while start.elapsed() < WAIT {
        if !dest.exists() {
            return 0;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = std::fs::remove_file(&dest);
    fail("message not taken (is it a running splice pv?)".into())
}

/// Looks for messages to this process until the program exits, applying each to the rate
/// limit (0: none) and the display.
pub fn listen(rate: Arc<AtomicU64>, display: Option<&Meter>) {
    let display = display.map(Meter::handle);
    let me = path(std::process::id());
    let _ = std::thread::Builder::new()
        .name("pv-remote".into())
        .stack_size(64 << 10)
        .spawn(move || loop {
            std::thread::sleep(POLL);
            if let Some(args) = take(&me) {
                apply(&args, &rate, display.as_ref());
            }
        });
}

/// The message at `p`, if one is there that this user wrote; the file is removed.
fn take(p: &PathBuf) -> Option<Vec<OsString>> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(p)
        .ok()?;
    let _ = std::fs::remove_file(p);
    let m = f.metadata().ok()?;
    let mine = m.is_file()
        && m.uid() == rustix::process::getuid().as_raw()
        && m.permissions().mode() & 0o022 == 0;
    if !mine {
        return None;
    }
    let mut body = Vec::new();
    f.take(64 << 10).read_to_end(&mut body).ok()?;
    Some(
        body.split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| OsString::from_vec(a.to_vec()))
            .collect(),
    )
}

fn apply(args: &[OsString], rate: &AtomicU64, display: Option<&super::meter::Handle>) {
    let Ok((found, _)) = getopt::parse(SPECS, args) else {
        return;
    };
    if let Some(l) = found.iter().rev().find(|f| f.key == "L") {
        if let Ok(r) = parse_pv_size(value(l)) {
            rate.store(r, Ordering::Relaxed);
        }
    }
    if let Some(d) = display {
        d.update(|look| change(look, &found));
    }
}

fn value(f: &Found) -> &str {
    f.value.as_deref().unwrap_or_default()
}

/// The display options of a message applied to `look`.
fn change(look: &mut Look, found: &[Found]) {
    if found.iter().any(|f| Look::default().switch_on(f.key)) {
        look.switches_off();
    }
    for f in found {
        let v = value(f);
        match f.key {
            k if look.switch_on(k) => {}
            "A" => look.last_written = v.parse::<usize>().map_or(0, |n| n.min(256)),
            "s" => look.size = parse_pv_size(v).ok(),
            "N" => look.name = Some(v.to_string()),
            "F" => look.format = Some(v.to_string()),
            "u" => look.bar_style = super::format::BarStyle::named(v, look.utf8),
            "x" => look.extra = super::extra::parse(v).ok().or(look.extra.take()),
            "w" => look.width = v.parse().ok().filter(|&w| w > 0),
            "i" => {
                if let Some(s) = v.parse::<f64>().ok().filter(|s| s.is_finite() && *s > 0.0) {
                    look.interval = Duration::from_secs_f64(s.max(0.01));
                }
            }
            _ => {}
        }
    }
}
