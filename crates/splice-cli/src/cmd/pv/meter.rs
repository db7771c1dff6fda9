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
    /// `-I`: the local time the transfer should end.
    pub fineta: bool,
    /// `-A N`: the last N bytes written (0: not shown).
    pub last_written: usize,
    /// `-c`: draw on a row of our own with cursor positioning.
    pub cursor: bool,
    /// `-v`: at the end, the rates seen (min/avg/max/mdev) on stderr.
    pub stats: bool,
    /// Measure without drawing (`-q -v`, or stderr not a terminal with `-v`).
    pub hidden: bool,
    /// `-k`: decimal units for bytes (`kB`, `MB`: powers of 1000).
    pub si: bool,
    /// `-g`: with no size, the bar shows the rate as a share of the highest rate seen.
    pub gauge: bool,
    /// `-u`: how bars are drawn (pv 1.9's `--bar-style`).
    pub bar_style: super::format::BarStyle,
    /// Whether the locale is UTF-8 (the styled bars need it).
    pub utf8: bool,
    /// Whether `%{sgr}` colours are written on the terminal line.
    pub colour: bool,
    /// `-x`: the window title and/or process title also show the display.
    pub extra: Option<super::extra::Extra>,
}

impl Look {
    /// Turns on the display switch `key` names (`p t e I r a b T`, pv's options); whether
    /// `key` is one.
    pub fn switch_on(&mut self, key: &str) -> bool {
        let on = match key {
            "p" => &mut self.progress,
            "t" => &mut self.timer,
            "e" => &mut self.eta,
            "I" => &mut self.fineta,
            "r" => &mut self.rate,
            "a" => &mut self.average,
            "b" => &mut self.bytes,
            "T" => &mut self.buffer,
            _ => return false,
        };
        *on = true;
        true
    }

    /// Turns every display switch off.
    pub fn switches_off(&mut self) {
        (self.progress, self.timer, self.eta, self.fineta) = (false, false, false, false);
        (self.rate, self.average, self.bytes, self.buffer) = (false, false, false, false);
    }

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
    /// What to show; `-R` changes it while the transfer runs.
    look: Mutex<Look>,
    /// The last bytes written, for `-A`/`%A` (kept only when the bytes pass through memory).
    last: Mutex<Vec<u8>>,
    /// The line being written and the last complete one, for `%L`.
    lines: Mutex<(Vec<u8>, Vec<u8>)>,
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

/// Changes a running meter's display.
pub struct Handle(Arc<State>);

impl Handle {
    /// Changes what is shown from the next redraw on, which comes at once.
    pub fn update(&self, change: impl FnOnce(&mut Look)) {
        change(&mut self.0.look.lock().unwrap_or_else(|e| e.into_inner()));
        let _g = self.0.lock.lock();
        self.0.wake.notify_all();
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
            look: Mutex::new(look),
            last: Mutex::new(Vec::new()),
            lines: Mutex::new((Vec::new(), Vec::new())),
        });
        let s = state.clone();
        let thread = std::thread::Builder::new()
            .name("pv-display".into())
            // Room for the time zone lookup of -I (jiff reads the zone file on this stack).
            .stack_size(512 << 10)
            .spawn(move || display(&s))
            .ok();
        Meter { state, thread }
    }

    /// Counts `n` more bytes.
    pub fn add(&self, n: u64) {
        self.state.bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Remembers the end of `written` for `-A`, keeping at most `keep` bytes.
    pub fn wrote(&self, written: &[u8], keep: usize) {
        let mut last = self.state.last.lock().unwrap_or_else(|e| e.into_inner());
        let new = &written[written.len().saturating_sub(keep)..];
        last.extend_from_slice(new);
        let excess = last.len().saturating_sub(keep);
        last.drain(..excess);
    }

    /// Follows the lines (ended by `sep`) in `written`, keeping the last complete one for
    /// `%L` (its first 1023 bytes, as pv keeps).
    pub fn lines(&self, written: &[u8], sep: u8) {
        let mut g = self.state.lines.lock().unwrap_or_else(|e| e.into_inner());
        let (next, prev) = &mut *g;
        let mut parts = written.split(|&b| b == sep).peekable();
        while let Some(part) = parts.next() {
            let room = 1023usize.saturating_sub(next.len());
            next.extend_from_slice(&part[..part.len().min(room)]);
            if parts.peek().is_some() {
                // A separator ended this line.
                std::mem::swap(prev, next);
                next.clear();
            }
        }
    }

    /// A handle another thread can change the display with (`-R`).
    pub fn handle(&self) -> Handle {
        Handle(self.state.clone())
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

/// One stream's measurements between redraws: turns a running count into the [`Reading`]
/// each redraw shows (the interval's rate, the windowed average, the indicator's moves).
pub struct Gauge {
    start: Instant,
    first: Option<Instant>,
    last_bytes: u64,
    last_t: Instant,
    history: std::collections::VecDeque<(Instant, u64)>,
    /// Redraws that saw bytes move: the unknown-size indicator steps 2% on each (pv).
    moves: u32,
    rate_max: f64,
    /// `-v`: every interval's rate once bytes have started to move.
    pub rates: Vec<f64>,
}

impl Gauge {
    /// A gauge whose clock starts now, with `bytes` already counted.
    pub fn new(bytes: u64) -> Gauge {
        let now = Instant::now();
        Gauge {
            start: now,
            first: None,
            last_bytes: bytes,
            last_t: now,
            history: Default::default(),
            moves: 0,
            rate_max: 0.0,
            rates: Vec::new(),
        }
    }

    /// The reading for `bytes` counted so far (`done`: the last one, which shows the average
    /// rate); `None` while `look` says to show nothing yet (`-W`, `-D`, hidden).
    pub fn read(&mut self, look: &Look, bytes: u64, done: bool) -> Option<Reading> {
        let now = Instant::now();
        if bytes > self.last_bytes && self.first.is_none() {
            self.first = Some(now);
        }
        if look.stats && !done && self.first.is_some() && now > self.last_t {
            self.rates.push(
                (bytes - self.last_bytes) as f64 / now.duration_since(self.last_t).as_secs_f64(),
            );
        }
        let t0 = if look.wait_first {
            self.first
        } else {
            Some(self.start)
        };
        let delayed = now.duration_since(self.start) < look.delay;
        let dt = now.duration_since(self.last_t).as_secs_f64().max(1e-9);
        let moved = bytes.saturating_sub(self.last_bytes);
        (self.last_bytes, self.last_t) = (bytes.max(self.last_bytes), now);
        let t0 = t0.filter(|_| !delayed && !look.hidden)?;
        let elapsed = now.duration_since(t0);
        // The rate over the last interval while running, the average at the end (pv).
        let rate = if done {
            bytes as f64 / elapsed.as_secs_f64().max(1e-9)
        } else {
            moved as f64 / dt
        };
        // The average over the last `-m` window, from the samples drawn.
        let window = look.window.unwrap_or(Duration::from_secs(30));
        self.history.push_back((now, bytes));
        while self.history.len() > 1 && now.duration_since(self.history[1].0) >= window {
            self.history.pop_front();
        }
        let avg = match self.history.front() {
            Some(&(t, b)) if now.duration_since(t) < elapsed && t < now => {
                bytes.saturating_sub(b) as f64 / now.duration_since(t).as_secs_f64()
            }
            _ => bytes as f64 / elapsed.as_secs_f64().max(1e-9),
        };
        if rate > 0.0 {
            self.moves = self.moves.wrapping_add(1);
        }
        if !done {
            self.rate_max = self.rate_max.max(rate);
        }
        Some(Reading {
            moves: self.moves,
            rate_max: self.rate_max,
            bytes,
            elapsed,
            rate,
            avg,
            done,
            last: Vec::new(),
            line: Vec::new(),
        })
    }
}

fn display(s: &State) {
    let mut look = s.look.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut cursor = if look.cursor && !look.numeric {
        super::cursor::Cursor::take()
    } else {
        None
    };
    let mut gauge = Gauge::new(0);
    let mut drawn = false;
    loop {
        let done = {
            let g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            if !s.done.load(Ordering::SeqCst) {
                let _ = s.wake.wait_timeout(g, look.interval);
            }
            s.done.load(Ordering::SeqCst)
        };
        look = s.look.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let bytes = s.bytes.load(Ordering::Relaxed);
        if let Some(mut now) = gauge.read(&look, bytes, done) {
            now.last = s.last.lock().unwrap_or_else(|e| e.into_inner()).clone();
            now.line = s.lines.lock().unwrap_or_else(|e| e.into_inner()).1.clone();
            let cols = look.width.unwrap_or_else(width);
            let line = render(&look, &now, cols);
            let mut err = std::io::stderr().lock();
            let _ = if look.numeric {
                writeln!(err, "{line}")
            } else if let Some(c) = cursor.as_mut() {
                c.draw(&line);
                Ok(())
            } else {
                write!(err, "{line}\r")
            };
            if let Some(x) = &look.extra {
                x.show(&look, &now, cols, &mut err);
            }
            drawn = true;
        }
        if done {
            if let Some(c) = cursor.take() {
                c.finish();
            } else if drawn && !look.numeric {
                let _ = writeln!(std::io::stderr());
            }
            if look.stats {
                let _ = std::io::stderr().write_all(stats(&gauge.rates, look.bits).as_bytes());
            }
            return;
        }
    }
}

/// pv's `-v` line: `rate min/avg/max/mdev = 1.000/2.000/3.000/0.816 B/s` over the
/// intervals' rates (bits with `-8`), or `rate not measured`.
fn stats(rates: &[f64], bits: bool) -> String {
    if rates.is_empty() {
        return "rate not measured\n".into();
    }
    let k = if bits { 8.0 } else { 1.0 };
    let n = rates.len() as f64;
    let mean = rates.iter().sum::<f64>() / n;
    let var = (rates.iter().map(|r| r * r).sum::<f64>() / n - mean * mean).max(0.0);
    let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let max = rates.iter().copied().fold(0.0, f64::max);
    let unit = if bits { "b/s" } else { "B/s" };
    format!(
        "rate min/avg/max/mdev = {:.3}/{:.3}/{:.3}/{:.3} {unit}\n",
        min * k,
        mean * k,
        max * k,
        var.sqrt() * k
    )
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
#[derive(Debug, Clone)]
pub struct Reading {
    /// Counted so far (bytes, or lines with `-l`).
    pub bytes: u64,
    pub elapsed: Duration,
    /// Over the last interval (the average at the end).
    pub rate: f64,
    /// Over the averaging window (`-m`).
    pub avg: f64,
    /// The last redraw (the ETA is blanked, as pv does).
    pub done: bool,
    /// The last bytes written (`-A`).
    pub last: Vec<u8>,
    /// The last complete line written (`%L`).
    pub line: Vec<u8>,
    /// How many redraws saw bytes move (places the indicator of a bar of unknown size).
    pub moves: u32,
    /// The highest interval rate so far (`-g`).
    pub rate_max: f64,
}

/// One display line, `cols` wide at most (`-n`: pv 1.9's numeric line, not cut).
pub fn render(look: &Look, now: &Reading, cols: usize) -> String {
    let fmt = match &look.format {
        Some(f) => f.clone(),
        None => super::format::from_switches(look),
    };
    let cols = if look.numeric { usize::MAX } else { cols };
    super::format::render(&fmt, look, now, cols, look.colour)
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

/// A count in the display's unit, laid out as pv 1.9 does ([`describe`]): lines (`-l`),
/// bits (`-8`) or bytes; `suffix` is `""` for an amount or `"/s"` for a rate.
pub(super) fn amount(look: &Look, v: f64, suffix: &str) -> String {
    if look.lines {
        describe(v, Count::Lines, suffix)
    } else {
        let (v, unit) = if look.bits { (v * 8.0, "b") } else { (v, "B") };
        let count = if look.si {
            Count::Decimal
        } else {
            Count::Bytes
        };
        describe(v, count, &format!("{unit}{suffix}"))
    }
}

/// `H:MM:SS`.
pub fn clock(s: u64) -> String {
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// How an amount scales: bytes (and bits) by 1024 with two-letter prefixes (`KiB`), lines by
/// 1000 with one letter (`k`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    Bytes,
    /// Bytes in powers of 1000 (`-k`): one-letter prefixes, `12.0 B`, `1.50kB`.
    Decimal,
    Lines,
}

/// pv 1.9's amounts: four columns of three significant digits (`1.00`, `12.0`, ` 378`), then
/// the SI prefix — two columns for bytes (`Ki`, or two spaces), one for lines (`k` or a
/// space) — then `unit`: `12.0  B`, ` 378KiB/s`, `1.00GiB`, `3.00 /s`. A value moves to the
/// next prefix past 97% of the ratio (993 B is ` 993  B`, 994 B is `0.971KiB`), and below 1
/// to the smaller ones (`500miB/s`), as pv does.
pub fn describe(v: f64, count: Count, unit: &str) -> String {
    const UP: [char; 9] = [' ', 'K', 'M', 'G', 'T', 'P', 'E', 'Z', 'Y'];
    const DOWN: [char; 8] = ['m', 'u', 'n', 'p', 'f', 'a', 'z', 'y'];
    let ratio = if count == Count::Bytes {
        1024.0
    } else {
        1000.0
    };
    let mut v = v.max(0.0);
    let mut prefix = ' ';
    if v >= 1e-8 {
        let mut up = 0;
        while v > ratio * 0.97 && up + 1 < UP.len() {
            v /= ratio;
            up += 1;
            prefix = UP[up];
        }
        let mut down = 0;
        while up == 0 && v < 1.0 && down < DOWN.len() {
            v *= ratio;
            prefix = DOWN[down];
            down += 1;
        }
    }
    if count != Count::Bytes && prefix == 'K' {
        prefix = 'k';
    }
    let prefix = match (count, prefix) {
        (Count::Bytes, ' ') => "  ".to_string(),
        (Count::Bytes, p) => format!("{p}i"),
        (_, p) => p.to_string(),
    };
    let v = v.min(100_000.0);
    let num = if v > 99.9 {
        format!("{:4}", v as i64)
    } else {
        format!("{:>4}", sig3(v))
    };
    format!("{num}{prefix}{unit}")
}

/// C's `%#.3g` for 0 <= v <= 99.9: three significant digits, trailing zeros kept.
fn sig3(v: f64) -> String {
    if v == 0.0 {
        return "0.00".into();
    }
    if v < 1.0 {
        let s = format!("{v:.3}");
        if s.starts_with('0') {
            return s;
        }
    }
    for dec in [2usize, 1] {
        let s = format!("{v:.dec$}");
        let whole = s.split('.').next().unwrap_or("");
        let sig = if whole == "0" { 1 } else { whole.len() };
        if sig + dec <= 3 {
            return s;
        }
    }
    format!("{v:.0}.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_pv() {
        // pv 1.9's layout (display.c: "%#4.3Lg" or "%4ld", a two-column prefix for bytes).
        let b = |v: f64| describe(v, Count::Bytes, "B");
        assert_eq!(b(10.0 * 1048576.0), "10.0MiB");
        assert_eq!(b(1073741824.0), "1.00GiB");
        assert_eq!(describe(512.0 * 1024.0, Count::Bytes, "B/s"), " 512KiB/s");
        assert_eq!(b(12.0), "12.0  B");
        assert_eq!(b(0.0), "0.00  B");
        assert_eq!(b(993.0), " 993  B");
        assert_eq!(b(994.0), "0.971KiB");
        assert_eq!(b(9.999 * 1048576.0), "10.0MiB");
        assert_eq!(b(99.99 * 1048576.0), "  99MiB");
        assert_eq!(b(0.5), " 512miB");
        assert_eq!(describe(3.0, Count::Lines, "/s"), "3.00 /s");
        assert_eq!(describe(12_500.0, Count::Lines, ""), "12.5k");
        assert_eq!(describe(12.0, Count::Decimal, "B"), "12.0 B");
        assert_eq!(describe(1_500.0, Count::Decimal, "B/s"), "1.50kB/s");
        assert_eq!(describe(2.5e9, Count::Decimal, "B"), "2.50GB");
        assert_eq!(clock(3725), "1:02:05");
    }

    #[test]
    fn stats_read_like_pvs() {
        assert_eq!(
            stats(&[1.0, 2.0, 3.0], false),
            "rate min/avg/max/mdev = 1.000/2.000/3.000/0.816 B/s\n"
        );
        assert_eq!(
            stats(&[2.0], true),
            "rate min/avg/max/mdev = 16.000/16.000/16.000/0.000 b/s\n"
        );
        assert_eq!(stats(&[], false), "rate not measured\n");
    }

    #[test]
    fn a_known_size_draws_a_bar_percentage_and_eta() {
        let look = Look::full(Some(100 << 20));
        let now = Reading {
            bytes: 50 << 20,
            elapsed: Duration::from_secs(2),
            rate: 25.0 * 1048576.0,
            avg: 25.0 * 1048576.0,
            done: false,
            last: Vec::new(),
            line: Vec::new(),
            moves: 0,
            rate_max: 0.0,
        };
        let l = render(&look, &now, 80);
        assert!(l.starts_with("50.0MiB 0:00:02 [25.0MiB/s] [="), "{l}");
        assert!(
            l.contains("=> ") && l.ends_with(" ]  50% ETA 0:00:02"),
            "{l}"
        );
        assert_eq!(l.len(), 80, "{l}");
        let n = Look {
            numeric: true,
            bytes: false,
            timer: false,
            rate: false,
            ..look
        };
        let start = Reading {
            elapsed: Duration::ZERO,
            rate: 0.0,
            avg: 0.0,
            ..now.clone()
        };
        assert_eq!(render(&n, &start, 80), "50");
    }
}
