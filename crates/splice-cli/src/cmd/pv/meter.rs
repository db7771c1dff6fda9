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

fn display(s: &State) {
    let start = Instant::now();
    let mut look = s.look.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut cursor = if look.cursor && !look.numeric {
        super::cursor::Cursor::take()
    } else {
        None
    };
    let mut first: Option<Instant> = None;
    let (mut last_bytes, mut last_t) = (0u64, start);
    let window = look.window.unwrap_or(Duration::from_secs(30));
    let mut history: std::collections::VecDeque<(Instant, u64)> = Default::default();
    let mut drawn = false;
    // Redraws that saw bytes move: the unknown-size indicator steps 2% on each (pv).
    let mut moves = 0u32;
    let mut rates: Vec<f64> = Vec::new();
    let mut rate_max = 0.0f64;
    loop {
        let done = {
            let g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            if !s.done.load(Ordering::SeqCst) {
                let _ = s.wake.wait_timeout(g, look.interval);
            }
            s.done.load(Ordering::SeqCst)
        };
        look = s.look.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let now = Instant::now();
        let bytes = s.bytes.load(Ordering::Relaxed);
        if bytes > 0 && first.is_none() {
            first = Some(now);
        }
        let t0 = if look.wait_first { first } else { Some(start) };
        let delayed = now.duration_since(start) < look.delay;
        if look.stats && !done && first.is_some() && now > last_t {
            // -v: every interval's rate once bytes have started to move (pv's measurements).
            rates.push((bytes - last_bytes) as f64 / now.duration_since(last_t).as_secs_f64());
        }
        if let Some(t0) = t0.filter(|_| !delayed && !look.hidden) {
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
            let last = s.last.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if rate > 0.0 {
                moves = moves.wrapping_add(1);
            }
            if !done {
                rate_max = rate_max.max(rate);
            }
            let now = Reading {
                moves,
                rate_max,
                bytes,
                elapsed,
                rate,
                avg,
                done,
                last,
            };
            let line = render(&look, &now, look.width.unwrap_or_else(width));
            let mut err = std::io::stderr().lock();
            let _ = if look.numeric {
                writeln!(err, "{line}")
            } else if let Some(c) = cursor.as_mut() {
                c.draw(&line);
                Ok(())
            } else {
                write!(err, "{line}\r")
            };
            drawn = true;
        }
        (last_bytes, last_t) = (bytes, now);
        if done {
            if let Some(c) = cursor.take() {
                c.finish();
            } else if drawn && !look.numeric {
                let _ = writeln!(std::io::stderr());
            }
            if look.stats {
                let _ = std::io::stderr().write_all(stats(&rates, look.bits).as_bytes());
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
    /// How many redraws saw bytes move (places the indicator of a bar of unknown size).
    pub moves: u32,
    /// The highest interval rate so far (`-g`).
    pub rate_max: f64,
}

/// One display line, `cols` wide at most.
pub fn render(look: &Look, now: &Reading, cols: usize) -> String {
    let bytes = now.bytes;
    if look.numeric {
        let scale = if look.bits && !look.lines { 8 } else { 1 };
        // With -t, the elapsed seconds first (pv: "%.4Lf ").
        let time = if look.timer {
            format!("{:.4} ", now.elapsed.as_secs_f64())
        } else {
            String::new()
        };
        return match look.size {
            Some(sz) if !look.bytes => format!("{time}{}", pct(bytes, sz)),
            // No size: pv's percentage climbs 2 on each redraw that saw bytes move, to 100
            // and back down, so a gauge reading it keeps moving.
            None if !look.bytes => {
                let p = (now.moves as u64 * 2) % 200;
                format!("{time}{}", if p > 100 { 200 - p } else { p })
            }
            _ => format!("{time}{}", bytes * scale),
        };
    }
    match &look.format {
        Some(f) => super::format::render(f, look, now, cols),
        None => super::format::render(&super::format::from_switches(look), look, now, cols),
    }
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

/// The inside of a bar of unknown size, `w` columns: a `<=>` that moves 2% of the way on
/// each redraw that saw bytes move, across and back (pv).
pub(super) fn bar(moves: u32, w: usize) -> String {
    let span = w.max(3) - 3;
    let p = (moves as usize * 2) % 200;
    let p = if p > 100 { 200 - p } else { p };
    let pos = span * p / 100;
    format!("{}<=>{}", " ".repeat(pos), " ".repeat(span - pos))
}

/// The percentage done; past 100 when more came than the size said (pv without `-S`).
pub(super) fn pct(bytes: u64, size: u64) -> u64 {
    bytes.saturating_mul(100).checked_div(size).unwrap_or(100)
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
