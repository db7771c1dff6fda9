//! The progress display shared by `splice pv` and the `--progress` flags: a byte counter the
//! copying thread bumps, and a display thread that redraws a pv-style line on stderr.

use std::io::Write;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What to show, as pv's -p -t -e -r -b -n -N options choose.
#[derive(Debug, Clone, Default)]
pub struct Look {
    pub progress: bool,
    pub timer: bool,
    pub eta: bool,
    pub rate: bool,
    pub bytes: bool,
    /// `-n`: an integer percentage (or byte count without a size) per line, no bar.
    pub numeric: bool,
    pub name: Option<String>,
    /// The expected total, for the bar, the percentage and the ETA.
    pub size: Option<u64>,
    pub interval: Duration,
    /// `-W`: stay silent until the first byte.
    pub wait_first: bool,
    /// `-w`: the line's width instead of the terminal's.
    pub width: Option<usize>,
    /// `-a`: the average rate since the start.
    pub average: bool,
    /// `-8`: bits instead of bytes (counts and rates times 8, units `b`, `Kib`…).
    pub bits: bool,
    /// `-D`: show nothing until this much time has passed.
    pub delay: Duration,
    /// `-l`/`-0`: the counts are lines, shown without a unit.
    pub lines: bool,
    /// `-F`: the line as a format string of `%` sequences.
    pub format: Option<String>,
    /// `-m`: the average rate (and the ETA) over this last stretch of time (`None`: 30 s).
    pub window: Option<Duration>,
    /// `-T`: how full the output pipe is (pv's transfer buffer is the kernel pipe here).
    pub buffer: bool,
}

impl Look {
    /// pv's default: everything but numeric.
    pub fn full(size: Option<u64>) -> Look {
        Look {
            progress: true,
            timer: true,
            eta: true,
            rate: true,
            bytes: true,
            size,
            interval: Duration::from_secs(1),
            ..Look::default()
        }
    }
}

struct State {
    bytes: AtomicU64,
    done: AtomicBool,
    wake: Condvar,
    lock: Mutex<()>,
}

/// The `--progress` meter of the other subcommands: pv's full display on stderr, drawn
/// whether or not stderr is a terminal (the flag asked for it).
pub fn progress(on: bool, size: Option<u64>) -> Option<Meter> {
    on.then(|| Meter::start(Look::full(size)))
}

/// Counts `n` bytes on an optional meter.
pub fn tick(m: &Option<Meter>, n: u64) {
    if let Some(m) = m {
        m.add(n);
    }
}

/// A running meter; `finish` draws the final line.
pub struct Meter {
    state: Arc<State>,
    thread: Option<JoinHandle<()>>,
}

impl Meter {
    /// Starts the display thread (a small stack: it only formats a line).
    pub fn start(look: Look) -> Meter {
        let state = Arc::new(State {
            bytes: AtomicU64::new(0),
            done: AtomicBool::new(false),
            wake: Condvar::new(),
            lock: Mutex::new(()),
        });
        let s = state.clone();
        let thread = std::thread::Builder::new()
            .name("pv-display".into())
            .stack_size(64 << 10)
            .spawn(move || display(&s, &look))
            .ok();
        Meter { state, thread }
    }

    /// Counts `n` more bytes.
    pub fn add(&self, n: u64) {
        self.state.bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Stops the display after a last redraw.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.state.done.store(true, Ordering::SeqCst);
        {
            let _g = self.state.lock.lock();
            self.state.wake.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        self.stop();
    }
}

fn display(s: &State, look: &Look) {
    let start = Instant::now();
    let mut first: Option<Instant> = None;
    let (mut last_bytes, mut last_t) = (0u64, start);
    let window = look.window.unwrap_or(Duration::from_secs(30));
    let mut history: std::collections::VecDeque<(Instant, u64)> = Default::default();
    let mut drawn = false;
    loop {
        let done = {
            let g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            if !s.done.load(Ordering::SeqCst) {
                let _ = s.wake.wait_timeout(g, look.interval);
            }
            s.done.load(Ordering::SeqCst)
        };
        let now = Instant::now();
        let bytes = s.bytes.load(Ordering::Relaxed);
        if bytes > 0 && first.is_none() {
            first = Some(now);
        }
        let t0 = if look.wait_first { first } else { Some(start) };
        let delayed = now.duration_since(start) < look.delay;
        if let Some(t0) = t0.filter(|_| !delayed) {
            let dt = now.duration_since(last_t).as_secs_f64().max(1e-9);
            let elapsed = now.duration_since(t0);
            // The rate over the last interval while running, the average at the end (pv).
            let rate = if done {
                bytes as f64 / elapsed.as_secs_f64().max(1e-9)
            } else {
                (bytes - last_bytes) as f64 / dt
            };
            // The average over the last `window` (pv's -m), from the samples drawn.
            history.push_back((now, bytes));
            while history.len() > 1 && now.duration_since(history[1].0) >= window {
                history.pop_front();
            }
            let avg = match history.front() {
                Some(&(t, b)) if now.duration_since(t) < elapsed && t < now => {
                    (bytes - b) as f64 / now.duration_since(t).as_secs_f64()
                }
                _ => bytes as f64 / elapsed.as_secs_f64().max(1e-9),
            };
            let now = Reading {
                bytes,
                elapsed,
                rate,
                avg,
            };
            let line = render(look, &now, look.width.unwrap_or_else(width));
            let mut err = std::io::stderr().lock();
            let _ = if look.numeric {
                writeln!(err, "{line}")
            } else {
                write!(err, "{line}\r")
            };
            drawn = true;
        }
        (last_bytes, last_t) = (bytes, now);
        if done {
            if drawn && !look.numeric {
                let _ = writeln!(std::io::stderr());
            }
            return;
        }
    }
}

/// The terminal's width from stderr, else `$COLUMNS`, else 80.
fn width() -> usize {
    rustix::termios::tcgetwinsize(std::io::stderr().as_fd())
        .ok()
        .map(|w| w.ws_col as usize)
        .filter(|&c| c > 0)
        .or_else(|| {
            std::env::var("COLUMNS")
                .ok()
                .and_then(|c| c.parse().ok())
                .filter(|&c| c > 0)
        })
        .unwrap_or(80)
}

/// Where a transfer stands at one redraw.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    /// Counted so far (bytes, or lines with `-l`).
    pub bytes: u64,
    pub elapsed: Duration,
    /// Over the last interval (the average at the end).
    pub rate: f64,
    /// Over the averaging window (`-m`).
    pub avg: f64,
}

/// One display line, `cols` wide at most.
pub fn render(look: &Look, now: &Reading, cols: usize) -> String {
    let (bytes, elapsed, rate, avg) = (now.bytes, now.elapsed, now.rate, now.avg);
    if look.numeric {
        let scale = if look.bits && !look.lines { 8 } else { 1 };
        return match look.size {
            Some(sz) if !look.bytes => pct(bytes, sz).to_string(),
            _ => (bytes * scale).to_string(),
        };
    }
    if let Some(f) = &look.format {
        return super::format::render(f, look, now, cols);
    }
    let mut parts: Vec<String> = Vec::new();
    if let Some(n) = &look.name {
        parts.push(format!("{n:>9}:"));
    }
    if look.bytes {
        parts.push(amount(look, bytes as f64, ""));
    }
    if look.timer {
        parts.push(clock(elapsed.as_secs()));
    }
    if look.rate {
        parts.push(format!("[{}]", amount(look, rate, "/s")));
    }
    if look.average {
        parts.push(format!("[{}]", amount(look, avg, "/s")));
    }
    if look.buffer {
        parts.push(buffer_fill());
    }
    let tail: Vec<String> = look
        .eta
        .then(|| eta(look, bytes, avg))
        .flatten()
        .into_iter()
        .collect();
    let room = cols.saturating_sub(
        parts.join(" ").len() + tail.join(" ").len() + look.size.map_or(0, |_| 5) + 6,
    );
    if look.progress && room >= 3 {
        // As pv, the bar takes what the other fields leave, and is left out when that is
        // too little to draw one.
        parts.push(format!("[{}]", bar(look, bytes, elapsed, room.min(200))));
        if let Some(sz) = look.size {
            parts.push(format!("{}%", pct(bytes, sz)));
        }
    }
    parts.extend(tail);
    fit(parts.join(" "), cols)
}

/// `{ 45%}`: how much of stdout's pipe is queued, as pv shows its buffer's fill (`-T`).
pub(super) fn buffer_fill() -> String {
    let out = std::io::stdout();
    let fd = out.as_fd();
    let queued = rustix::io::ioctl_fionread(fd).unwrap_or(0);
    let cap = rustix::pipe::fcntl_getpipe_size(fd).unwrap_or(0) as u64;
    let pct = (queued * 100).checked_div(cap).unwrap_or(0);
    format!("{{{pct:>3}%}}")
}

/// A line cut to the width (one column short, so the cursor stays on the line).
pub(super) fn fit(line: String, cols: usize) -> String {
    let max = cols.saturating_sub(1).max(1);
    if line.chars().count() > max {
        line.chars().take(max).collect()
    } else {
        line
    }
}

/// A count in the display's unit: lines (`-l`), bits (`-8`) or bytes.
pub(super) fn amount(look: &Look, v: f64, suffix: &str) -> String {
    if look.lines {
        count(v, suffix)
    } else if look.bits {
        human_in(v * 8.0, suffix, &BIT_UNITS)
    } else {
        human(v, suffix)
    }
}

/// `ETA H:MM:SS` from the average rate, when the size is known.
pub(super) fn eta(look: &Look, bytes: u64, avg: f64) -> Option<String> {
    let sz = look.size?;
    let left = sz.saturating_sub(bytes) as f64;
    let eta = if avg > 0.0 {
        (left / avg).ceil() as u64
    } else {
        0
    };
    Some(format!("ETA {}", clock(eta)))
}

/// The inside of the bar, `w` columns: filled to the share done, or a moving `<=>` when the
/// size is unknown.
pub(super) fn bar(look: &Look, bytes: u64, elapsed: Duration, w: usize) -> String {
    let w = w.max(3);
    match look.size {
        Some(sz) => {
            let filled = ((bytes.min(sz) as f64 / sz.max(1) as f64) * w as f64) as usize;
            let mut b = "=".repeat(filled.min(w));
            if filled < w {
                b.push('>');
                b.push_str(&" ".repeat(w - filled - 1));
            }
            b
        }
        None => {
            let pos = (elapsed.as_secs() as usize) % w.saturating_sub(2).max(1);
            format!(
                "{}<=>{}",
                " ".repeat(pos),
                " ".repeat(w.saturating_sub(pos + 3))
            )
        }
    }
}

/// The percentage done; past 100 when more came than the size said (pv without `-S`).
pub(super) fn pct(bytes: u64, size: u64) -> u64 {
    bytes.saturating_mul(100).checked_div(size).unwrap_or(100)
}

/// A count of lines: pv shows it with an SI prefix and no unit (`3.00`, `12.5k`).
fn count(v: f64, suffix: &str) -> String {
    const UNITS: [&str; 6] = ["", "k", "M", "G", "T", "P"];
    let (mut v, mut u) = (v.max(0.0), 0);
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    format!("{}{}{suffix}", three_digits(v), UNITS[u])
}

const BYTE_UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
const BIT_UNITS: [&str; 6] = ["b", "Kib", "Mib", "Gib", "Tib", "Pib"];

fn three_digits(v: f64) -> String {
    if v < 9.995 {
        format!("{v:.2}")
    } else if v < 99.95 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// `H:MM:SS`.
pub fn clock(s: u64) -> String {
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// pv's sizes: three significant digits and a binary unit (`10.0MiB`, `512KiB`, `1.00GiB`).
pub fn human(v: f64, suffix: &str) -> String {
    human_in(v, suffix, &BYTE_UNITS)
}

fn human_in(v: f64, suffix: &str, units: &[&str; 6]) -> String {
    const UNITS_LEN: usize = 6;
    let (mut v, mut u) = (v.max(0.0), 0);
    while v >= 1000.0 && u + 1 < UNITS_LEN {
        v /= 1024.0;
        u += 1;
    }
    // Decide the decimals on the rounded value, so 9.999 shows as 10.0, not 10.00.
    let num = if u == 0 {
        format!("{v:.0}")
    } else {
        three_digits(v)
    };
    format!("{num}{}{suffix}", units[u])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_pv() {
        assert_eq!(human(10.0 * 1048576.0, ""), "10.0MiB");
        assert_eq!(human(1073741824.0, ""), "1.00GiB");
        assert_eq!(human(512.0 * 1024.0, "/s"), "512KiB/s");
        assert_eq!(human(999.0, ""), "999B");
        assert_eq!(human(9.999 * 1048576.0, "/s"), "10.0MiB/s");
        assert_eq!(human(99.99 * 1048576.0, ""), "100MiB");
        assert_eq!(clock(3725), "1:02:05");
    }

    #[test]
    fn a_known_size_draws_a_bar_percentage_and_eta() {
        let look = Look::full(Some(100 << 20));
        let now = Reading {
            bytes: 50 << 20,
            elapsed: Duration::from_secs(2),
            rate: 25.0 * 1048576.0,
            avg: 25.0 * 1048576.0,
        };
        let l = render(&look, &now, 80);
        assert!(l.starts_with("50.0MiB 0:00:02 [25.0MiB/s] [="), "{l}");
        assert!(l.ends_with("] 50% ETA 0:00:02"), "{l}");
        assert!(l.len() <= 80, "{} > 80: {l}", l.len());
        let n = Look {
            numeric: true,
            bytes: false,
            ..look
        };
        let start = Reading {
            elapsed: Duration::ZERO,
            rate: 0.0,
            avg: 0.0,
            ..now
        };
        assert_eq!(render(&n, &start, 80), "50");
    }
}
