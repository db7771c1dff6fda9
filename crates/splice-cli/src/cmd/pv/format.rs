//! pv's display line, drawn from a format string of `%` sequences (`-F`, or the one the display
//! switches make, in pv's order `%N %b %T %t %r %a %p %e %I %A`):
//! `%p` the bar and percentage (it takes the width the rest leaves, or `%20p` a fixed width),
//! `%t` the elapsed time, `%e` the time left, `%I` the local time it will end, `%r` the rate,
//! `%a` the average rate, `%b` the amount moved, `%T` the output pipe's fill, `%NA` the last
//! N bytes written, `%L` the last line written, `%N` the name, `%%` a percent sign; pv 1.9's
//! long forms (`%{timer}`, `%{eta}`…), its styled bars (`%{bar-block}`…) and colours
//! (`%{sgr:red,bold}`); any other text as it is. With `-n` the numbers are bare, as pv 1.9's
//! numeric format prints them.

use super::meter::{amount, clock, Look, Reading};

/// How a bar is drawn: pv 1.9's `--bar-style` names. The styles past `plain` need a UTF-8
/// locale; elsewhere they fall back to `plain`, as pv's do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BarStyle {
    /// `[====>    ]`, `<=>` when the size is unknown.
    #[default]
    Plain,
    /// Full blocks, `◀▶` when the size is unknown.
    Block,
    /// Full blocks with an eighth-block edge.
    Granular,
    /// Light to dark shades.
    Shaded,
}

impl BarStyle {
    /// The style `name` stands for (`plain` for a name pv does not know, or outside UTF-8).
    pub fn named(name: &str, utf8: bool) -> BarStyle {
        match name {
            "block" if utf8 => BarStyle::Block,
            "granular" if utf8 => BarStyle::Granular,
            "shaded" if utf8 => BarStyle::Shaded,
            _ => BarStyle::Plain,
        }
    }

    /// The moving indicator, the tip, and the cells from empty to full.
    fn glyphs(self) -> (&'static str, &'static str, &'static [&'static str]) {
        match self {
            BarStyle::Plain => ("<=>", ">", &[" ", "="]),
            BarStyle::Block => ("\u{25c0}\u{25b6}", "", &[" ", "\u{2588}"]),
            BarStyle::Granular => (
                "\u{25c0}\u{25b6}",
                "",
                &[
                    " ", "\u{258f}", "\u{258e}", "\u{258d}", "\u{258c}", "\u{258b}", "\u{258a}",
                    "\u{2589}", "\u{2588}",
                ],
            ),
            BarStyle::Shaded => (
                "\u{2592}\u{2593}\u{2592}",
                "",
                &["\u{2591}", "\u{2592}", "\u{2593}", "\u{2588}"],
            ),
        }
    }
}

/// One piece of a format string.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    /// A bar: `%p` is `[bar] pct%` (`sides`, `amount`); `%{progress-bar-only}` and the
    /// `%{bar-*}` styles the bar alone. `style` `None`: the `--bar-style` one. `width` 0: the
    /// width the fixed pieces leave.
    Bar {
        sides: bool,
        amount: bool,
        style: Option<&'static str>,
        width: usize,
    },
    /// `%{progress-amount-only}`: the percentage alone.
    Percent,
    Timer,
    Eta,
    FinEta,
    Rate,
    Average,
    Bytes,
    Buffer,
    /// `%NA`: the last N bytes written.
    Last(usize),
    /// `%NL`: the start of the last line written, N columns (0: the width left).
    Line(usize),
    Name,
    /// `%{sgr:…}`: colour and rendition codes (none where colour is not shown).
    Sgr(String),
}

/// The format the display switches make, as pv builds it (`-n`: pv 1.9's numeric line,
/// `%t %b %r`, the percentage when neither an amount nor a rate is asked for).
pub fn from_switches(look: &Look) -> String {
    let mut f: Vec<String> = Vec::new();
    if look.numeric {
        let on = [(look.timer, "%t"), (look.bytes, "%b"), (look.rate, "%r")];
        f.extend(on.iter().filter(|(b, _)| *b).map(|(_, s)| s.to_string()));
        if !(look.bytes || look.rate) {
            f.push("%{progress-amount-only}".into());
        }
        return f.join(" ");
    }
    let on = [
        (look.name.is_some(), "%N"),
        (look.bytes, "%b"),
        (look.buffer, "%T"),
        (look.timer, "%t"),
        (look.rate, "%r"),
        (look.average, "%a"),
        (look.progress, "%p"),
        (look.eta, "%e"),
        (look.fineta, "%I"),
    ];
    f.extend(on.iter().filter(|(b, _)| *b).map(|(_, s)| s.to_string()));
    if look.last_written > 0 {
        f.push(format!("%{}A", look.last_written));
    }
    f.join(" ")
}

/// The largest `N` of the `%NA` sequences in `fmt` (how many written bytes to keep).
pub fn last_written_len(fmt: &str) -> usize {
    parse(fmt)
        .iter()
        .filter_map(|p| match p {
            Piece::Last(n) => Some(*n),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// Whether `fmt` shows the last line written (`%L`), which needs the bytes in memory.
pub fn shows_line(fmt: &str) -> bool {
    parse(fmt).iter().any(|p| matches!(p, Piece::Line(_)))
}

fn parse(fmt: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = fmt;
    while let Some(i) = rest.find('%') {
        text.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let num: usize = after[..digits].parse().unwrap_or(0);
        let seq = &after[digits..];
        let (name, len) = if let Some(body) = seq.strip_prefix('{') {
            match body.find(['}', '%']) {
                Some(end) if body[end..].starts_with('}') => (&body[..end], end + 2),
                _ => ("?", 0),
            }
        } else {
            match seq.chars().next() {
                Some(c) => (&seq[..c.len_utf8()], c.len_utf8()),
                None => ("", 0),
            }
        };
        let bar = |sides, style| Piece::Bar {
            sides,
            amount: sides,
            style,
            width: num.min(4096),
        };
        let piece = match name {
            "p" | "progress" => Some(bar(true, None)),
            "progress-bar-only" => Some(bar(false, None)),
            "bar-plain" => Some(bar(false, Some("plain"))),
            "bar-block" => Some(bar(false, Some("block"))),
            "bar-granular" => Some(bar(false, Some("granular"))),
            "bar-shaded" => Some(bar(false, Some("shaded"))),
            "progress-amount-only" => Some(Piece::Percent),
            "t" | "timer" => Some(Piece::Timer),
            "e" | "eta" => Some(Piece::Eta),
            "I" | "fineta" => Some(Piece::FinEta),
            "r" | "rate" => Some(Piece::Rate),
            "a" | "average-rate" => Some(Piece::Average),
            "b" | "bytes" | "transferred" => Some(Piece::Bytes),
            "T" | "buffer-percent" => Some(Piece::Buffer),
            "A" | "last-written" => Some(Piece::Last(num.clamp(1, 256))),
            "L" | "previous-line" => Some(Piece::Line(num.min(1023))),
            "N" | "name" => Some(Piece::Name),
            n => n.strip_prefix("sgr:").map(|c| Piece::Sgr(c.to_string())),
        };
        match piece {
            Some(p) => {
                if !text.is_empty() {
                    out.push(Piece::Text(std::mem::take(&mut text)));
                }
                out.push(p);
                rest = &seq[len..];
            }
            None if name == "%" && digits == 0 => {
                text.push('%');
                rest = &seq[1..];
            }
            None => {
                // An unknown sequence (or a lone `%` at the end) stays as it is.
                text.push('%');
                rest = after;
            }
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    out
}

/// Columns `s` takes on a terminal: its characters, less the escape sequences of `%{sgr}`.
fn columns(s: &str) -> usize {
    let mut n = 0;
    let mut esc = false;
    for c in s.chars() {
        match (esc, c) {
            (false, '\x1b') => esc = true,
            (false, _) => n += 1,
            (true, 'm') => esc = false,
            (true, _) => {}
        }
    }
    n
}

/// Renders `fmt` for the current reading, `cols` columns wide at most; `colour`: whether
/// `%{sgr}` writes its codes (the terminal line, not a window or process title).
pub fn render(fmt: &str, look: &Look, now: &Reading, cols: usize, colour: bool) -> String {
    let pieces = parse(fmt);
    let (bytes, elapsed) = (now.bytes, now.elapsed);
    let bits = if look.bits && !look.lines { 8 } else { 1 };
    let mut active = false;
    // Every piece of a fixed width first; the others then share the width that is left.
    let fixed: Vec<Option<String>> = pieces
        .iter()
        .map(|p| {
            Some(match p {
                Piece::Text(t) => t.clone(),
                Piece::Bar { width: 0, .. } | Piece::Line(0) => return None,
                Piece::Bar {
                    sides,
                    amount,
                    style,
                    width,
                } => progress(look, now, *width, *sides, *amount, *style),
                Piece::Line(w) => line(&now.line, *w),
                Piece::Percent if look.numeric => format!("{:.0}", percentage(look, now)),
                Piece::Percent => after_bar(look, now).trim_start().to_string(),
                Piece::Timer if look.numeric => format!("{:.4}", elapsed.as_secs_f64()),
                Piece::Timer => timer(elapsed.as_secs()),
                Piece::Eta => eta(look, now),
                Piece::FinEta => fin_eta(look, now),
                Piece::Rate if look.numeric => format!("{:.4}", now.rate * bits as f64),
                Piece::Rate => format!("[{}]", amount(look, now.rate, "/s")),
                Piece::Average => format!("({})", amount(look, now.avg, "/s")),
                Piece::Bytes if look.numeric => (bytes * bits).to_string(),
                Piece::Bytes => amount(look, bytes as f64, ""),
                Piece::Buffer => super::meter::buffer_fill(),
                Piece::Last(n) => last_written(&now.last, *n),
                Piece::Name => look
                    .name
                    .as_deref()
                    .map(|n| format!("{n:>9}:"))
                    .unwrap_or_default(),
                Piece::Sgr(codes) if colour => sgr(codes, &mut active),
                Piece::Sgr(_) => String::new(),
            })
        })
        .collect();
    let used: usize = fixed.iter().flatten().map(|s| columns(s)).sum();
    let shared = fixed.iter().filter(|p| p.is_none()).count().max(1);
    let each = cols.saturating_sub(used) / shared;
    let mut line_out: String = pieces
        .iter()
        .zip(fixed)
        .map(|(p, s)| match (p, s) {
            (_, Some(s)) => s,
            (
                Piece::Bar {
                    sides,
                    amount,
                    style,
                    ..
                },
                None,
            ) => progress(look, now, each, *sides, *amount, *style),
            (Piece::Line(_), None) => line(&now.line, each),
            _ => String::new(),
        })
        .collect();
    if columns(&line_out) > cols {
        line_out = cut(&line_out, cols);
    }
    if active {
        // A colour still on at the end is reset, as pv does.
        line_out.push_str("\x1b[m");
    }
    line_out
}

/// The first `cols` columns of `s`, escape sequences kept whole.
fn cut(s: &str, cols: usize) -> String {
    let (mut out, mut n, mut esc) = (String::new(), 0, false);
    for c in s.chars() {
        match (esc, c) {
            (false, '\x1b') => esc = true,
            (false, _) if n == cols => break,
            (false, _) => n += 1,
            (true, 'm') => esc = false,
            (true, _) => {}
        }
        out.push(c);
    }
    out
}

/// The share done as pv 1.9 keeps it (a decimal): of the size, of the highest rate (`-g`),
/// or the unknown-size indicator's place (2% per moving redraw, 0 to 100 and back).
fn percentage(look: &Look, now: &Reading) -> f64 {
    match look.size {
        Some(0) => 100.0,
        Some(size) => now.bytes as f64 * 100.0 / size as f64,
        None if look.gauge && now.rate_max > 0.0 => 100.0 * now.rate / now.rate_max,
        None if look.gauge => 0.0,
        None => {
            let p = (now.moves as u64 * 2) % 200;
            (if p > 100 { 200 - p } else { p }) as f64
        }
    }
}

/// What follows a bar of known size: ` %3d%` (past 100 without `-S`), or with `-g` the
/// highest rate seen, ` /2.00KiB/s`.
fn after_bar(look: &Look, now: &Reading) -> String {
    match look.size {
        Some(_) => format!(" {:>3}%", percentage(look, now) as u64),
        None if look.gauge => format!(" /{}", amount(look, now.rate_max, "/s").trim_start()),
        None => String::new(),
    }
}

/// A bar `width` columns wide in `style` (or `look`'s): `[====>    ]  50%` with a size (or
/// `-g`), a moving indicator without; empty when the width cannot hold it.
fn progress(
    look: &Look,
    now: &Reading,
    width: usize,
    sides: bool,
    amount: bool,
    style: Option<&str>,
) -> String {
    let style = style.map_or(look.bar_style, |n| BarStyle::named(n, look.utf8));
    let (indicator, tip, cells) = style.glyphs();
    let (open, close, side_cols) = if sides { ("[", "]", 2) } else { ("", "", 0) };
    let w = |s: &str| s.chars().count();
    if look.size.is_none() && !look.gauge {
        let Some(area) = width
            .checked_sub(w(indicator) + side_cols)
            .filter(|&a| a >= if sides { 1 } else { 2 })
        else {
            return String::new();
        };
        let pad = (area as f64 * percentage(look, now) / 100.0) as usize;
        let pad = pad.min(area);
        return format!(
            "{open}{}{indicator}{}{close}",
            cells[0].repeat(pad),
            cells[0].repeat(area - pad)
        );
    }
    let after = if amount {
        after_bar(look, now)
    } else {
        String::new()
    };
    let Some(area) = width.checked_sub(w(&after) + side_cols) else {
        return String::new();
    };
    let pct = percentage(look, now).clamp(0.0, 100.0);
    let full = cells.len() - 1;
    let has_tip = full == 1 && !tip.is_empty();
    let exact = area as f64 * pct / 100.0;
    let mut filled = exact as usize;
    if has_tip && filled > 0 {
        filled -= 1;
    }
    let filled = filled.min(area);
    let mut b = cells[full].repeat(filled);
    let mut used = filled;
    if has_tip && used < area {
        b.push_str(tip);
        used += 1;
    }
    if used < area && full > 1 {
        // pv's partial cell: the fraction of the next column, in the style's steps.
        let part = ((full as f64) * (exact - filled as f64)) as usize;
        b.push_str(cells[part.min(full)]);
        used += 1;
    }
    b.push_str(&cells[0].repeat(area - used));
    format!("{open}{b}{close}{after}")
}

/// `%L`: the start of the last complete line written, `width` columns, each byte that is not
/// printable ASCII shown as a space, padded with spaces (pv's previous-line buffer).
fn line(last: &[u8], width: usize) -> String {
    (0..width)
        .map(|i| match last.get(i) {
            Some(&b) if b.is_ascii_graphic() || b == b' ' => b as char,
            _ => ' ',
        })
        .collect()
}

/// `%{sgr:red,bold}`: ECMA-48 rendition codes by name or number (pv 1.9's keywords); at most
/// 16 codes per sequence. `active` follows whether the last code left a rendition on.
fn sgr(codes: &str, active: &mut bool) -> String {
    const NAMES: &[(&str, u8)] = &[
        ("reset", 0),
        ("none", 0),
        ("bold", 1),
        ("dim", 2),
        ("italic", 3),
        ("underscore", 4),
        ("underline", 4),
        ("blink", 5),
        ("reverse", 7),
        ("no-bold", 22),
        ("no-dim", 22),
        ("no-italic", 23),
        ("no-underscore", 24),
        ("no-underline", 24),
        ("no-blink", 25),
        ("no-reverse", 27),
        ("black", 30),
        ("red", 31),
        ("green", 32),
        ("brown", 33),
        ("yellow", 33),
        ("blue", 34),
        ("magenta", 35),
        ("cyan", 36),
        ("white", 37),
        ("fg-default", 39),
        ("bg-black", 40),
        ("bg-red", 41),
        ("bg-green", 42),
        ("bg-brown", 43),
        ("bg-yellow", 43),
        ("bg-blue", 44),
        ("bg-magenta", 45),
        ("bg-cyan", 46),
        ("bg-white", 47),
        ("bg-default", 49),
    ];
    let mut out = String::new();
    let mut count = 0;
    let mut last = None;
    for word in codes.split([',', ';']).filter(|w| !w.is_empty()) {
        // A colour may also be named `fg-red`; a number is a code of its own.
        let bare = word.strip_prefix("fg-").unwrap_or(word);
        let code = match word.parse::<u32>() {
            Ok(n) if n < 255 => Some(n),
            _ => NAMES
                .iter()
                .find(|(n, c)| *n == word || (*n == bare && (30..=37).contains(c)))
                .map(|&(_, c)| u32::from(c)),
        };
        let Some(code) = code else { continue };
        if count > 15 {
            out.push('m');
            count = 0;
        }
        out.push_str(if count == 0 { "\x1b[" } else { ";" });
        out.push_str(&code.to_string());
        count += 1;
        last = Some(code);
    }
    if count > 0 {
        out.push('m');
    }
    match last {
        Some(0) => *active = false,
        Some(_) => *active = true,
        None => {}
    }
    out
}

/// `H:MM:SS`, or `D:HH:MM:SS` past a day (pv 1.9).
fn timer(s: u64) -> String {
    if s > 86400 {
        format!(
            "{}:{:02}:{:02}:{:02}",
            s / 86400,
            s / 3600 % 24,
            s / 60 % 60,
            s % 60
        )
    } else {
        clock(s)
    }
}

/// Seconds left at the average rate (pv: none before the first byte or at no rate).
fn seconds_left(look: &Look, now: &Reading) -> Option<u64> {
    let size = look.size?;
    let left = size.saturating_sub(now.bytes) as f64;
    Some(if now.bytes == 0 || now.avg < 0.001 {
        0
    } else {
        ((left / now.avg) as u64).min(360_000_000)
    })
}

/// `ETA 0:01:05`; blank (spaces of the same width) on the last redraw, as pv.
fn eta(look: &Look, now: &Reading) -> String {
    let Some(s) = seconds_left(look, now) else {
        return String::new();
    };
    let text = format!("ETA {}", timer(s));
    if now.done {
        " ".repeat(text.len())
    } else {
        text
    }
}

/// `FIN 14:05:09`: the local time the transfer should end, with the date when that is more
/// than six hours away (pv's `-I`).
fn fin_eta(look: &Look, now: &Reading) -> String {
    let Some(s) = seconds_left(look, now) else {
        return String::new();
    };
    let pattern = if s > 6 * 3600 {
        "%Y-%m-%d %H:%M:%S"
    } else {
        "%H:%M:%S"
    };
    let at = jiff::ZonedDateTime::now().checked_add(jiff::SignedDuration::from_secs(s as i64));
    match at {
        Ok(t) => format!("FIN {}", t.strftime(pattern)),
        Err(_) => String::new(),
    }
}

/// The last `n` bytes written, each shown as itself when printable ASCII, else `.`; bytes not
/// yet written show as `.` too (pv's zeroed buffer).
fn last_written(last: &[u8], n: usize) -> String {
    let have = &last[last.len().saturating_sub(n)..];
    let mut s = ".".repeat(n - have.len());
    s.extend(have.iter().map(|&b| {
        if b.is_ascii_graphic() || b == b' ' {
            b as char
        } else {
            '.'
        }
    }));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn draw(f: &str, look: &Look, now: &Reading, cols: usize) -> String {
        render(f, look, now, cols, true)
    }

    fn reading(bytes: u64) -> Reading {
        Reading {
            bytes,
            elapsed: Duration::from_secs(61),
            rate: 1024.0,
            avg: 512.0,
            done: false,
            last: b"ab\ncd".to_vec(),
            line: b"last\tline".to_vec(),
            moves: 30,
            rate_max: 2048.0,
        }
    }

    #[test]
    fn sequences_are_replaced_and_the_bar_fills_the_rest() {
        let look = Look {
            size: Some(300),
            name: Some("nm".into()),
            ..Look::default()
        };
        let now = reading(150);
        let r = |f: &str| draw(f, &look, &now, 60);
        assert_eq!(r("%b|%t"), " 150  B|0:01:01");
        assert_eq!(r("x%%y %N"), "x%y        nm:");
        assert_eq!(r("%r %a"), "[1.00KiB/s] ( 512  B/s)");
        assert_eq!(r("%e"), "ETA 0:00:00");
        assert_eq!(r("%q %"), "%q %");
        assert_eq!(r("%3A|%{last-written}|%8A"), ".cd|d|...ab.cd");
        assert_eq!(r("%{timer} %{bytes}"), "0:01:01  150  B");
        let p = r("<%p>");
        assert!(p.starts_with("<[====") && p.ends_with(" ]  50%>"), "{p}");
        // Half of the 50 columns inside the bar, one of them the tip.
        assert_eq!(p.matches('=').count(), 24, "{p}");
        assert_eq!(p.chars().count(), 60, "{p}");
        let done = Reading {
            done: true,
            ..reading(300)
        };
        assert_eq!(draw("%e|", &look, &done, 60), "           |");
        assert_eq!(draw("[%p]", &look, &done, 12), "[[==>] 100%]");
        // Unknown size: the indicator 60% of the way (30 moving redraws, 2% each).
        let unknown = Look::default();
        assert_eq!(draw("%p", &unknown, &now, 15), "[      <=>    ]");
        // -g: the rate (1 KiB/s) is half the highest seen (2 KiB/s).
        let gauge = Look {
            gauge: true,
            ..Look::default()
        };
        assert_eq!(
            draw("%p", &gauge, &now, 30),
            "[=======>         ] /2.00KiB/s"
        );
    }

    #[test]
    fn the_switches_make_pvs_format() {
        let look = Look {
            bytes: true,
            timer: true,
            progress: true,
            fineta: true,
            last_written: 4,
            name: Some("x".into()),
            ..Look::default()
        };
        assert_eq!(from_switches(&look), "%N %b %t %p %I %4A");
        assert_eq!(last_written_len("%b %12A %3A"), 12);
    }

    #[test]
    fn the_finish_time_is_a_local_clock_time() {
        let look = Look {
            size: Some(1000),
            ..Look::default()
        };
        let mut now = reading(500);
        now.avg = 10.0;
        let f = draw("%I", &look, &now, 80);
        assert!(f.starts_with("FIN ") && f.len() == 12, "{f}");
        now.avg = 0.01;
        let f = draw("%I", &look, &now, 80);
        assert!(
            f.starts_with("FIN ") && f.len() == 23,
            "past 6 h the date too: {f}"
        );
        assert_eq!(draw("%I", &Look::default(), &now, 80), "");
    }

    #[test]
    fn bar_styles_widths_lines_and_colours_follow_pv_19() {
        let look = Look {
            size: Some(400),
            utf8: true,
            ..Look::default()
        };
        let now = reading(150);
        // 37.5% of 10 columns is 3.75: 3 full cells, then (granular, shaded) pv's partial cell
        // for the .75 of the next, in the style's steps.
        let ten = |f: &str| draw(&format!("%10{{{f}}}|"), &look, &now, 80);
        assert_eq!(ten("bar-block"), "\u{2588}\u{2588}\u{2588}       |");
        assert_eq!(
            ten("bar-granular"),
            "\u{2588}\u{2588}\u{2588}\u{258a}      |"
        );
        assert_eq!(
            ten("bar-shaded"),
            "\u{2588}\u{2588}\u{2588}\u{2593}\u{2591}\u{2591}\u{2591}\u{2591}\u{2591}\u{2591}|"
        );
        assert_eq!(ten("bar-plain"), "==>       |");
        // Outside UTF-8 every style is plain; --bar-style sets the one %p uses.
        let c = Look {
            utf8: false,
            ..look.clone()
        };
        assert_eq!(draw("%10{bar-block}|", &c, &now, 80), "==>       |");
        let styled = Look {
            bar_style: BarStyle::named("block", true),
            ..look.clone()
        };
        assert_eq!(
            draw("%15p|", &styled, &now, 80),
            "[\u{2588}\u{2588}\u{2588}     ]  37%|"
        );
        // Two bars without a width share what is left.
        let two = draw("%p%{progress-bar-only}", &look, &now, 40);
        assert_eq!(two.chars().count(), 40, "{two}");
        // %L: the last complete line, unprintable bytes as spaces, padded; or the width left.
        assert_eq!(draw("<%6L>", &look, &now, 80), "<last l>");
        assert_eq!(draw("<%12L>", &look, &now, 80), "<last line   >");
        assert_eq!(draw("%L|", &look, &now, 12), "last line  |");
        // %{sgr}: codes by name and number, reset at the end of the line while one is on;
        // no width taken; nothing where colour is off.
        assert_eq!(
            draw("%{sgr:red,bold}x", &look, &now, 80),
            "\x1b[31;1mx\x1b[m"
        );
        assert_eq!(
            draw("%{sgr:fg-green}x%{sgr:reset}", &look, &now, 80),
            "\x1b[32mx\x1b[0m"
        );
        assert_eq!(
            draw("%{sgr:bg-blue,7}", &look, &now, 80),
            "\x1b[44;7m\x1b[m"
        );
        assert_eq!(render("%{sgr:red}x", &look, &now, 80, false), "x");
        let bar = draw("%{sgr:green}%p", &look, &now, 20);
        assert!(
            bar.starts_with("\x1b[32m[") && bar.ends_with("]  37%\x1b[m"),
            "{bar:?}"
        );
        // An unfinished %{ stays as text.
        assert_eq!(draw("%{timer x", &look, &now, 80), "%{timer x");
    }

    #[test]
    fn numeric_lines_are_pv_19s() {
        let look = Look {
            size: Some(400),
            numeric: true,
            ..Look::default()
        };
        let now = reading(150);
        let n = |l: &Look| super::super::meter::render(l, &now, 80);
        // The percentage rounded (37.5 → 38 is a tie rounded to even: 38).
        assert_eq!(n(&look), "38");
        let all = Look {
            timer: true,
            bytes: true,
            rate: true,
            ..look.clone()
        };
        assert_eq!(n(&all), "61.0000 150 1024.0000");
        let bits = Look {
            bytes: true,
            bits: true,
            ..look.clone()
        };
        assert_eq!(n(&bits), "1200");
        let f = Look {
            format: Some("{\"p\":%{progress-amount-only},\"b\":%b}".into()),
            ..look.clone()
        };
        assert_eq!(n(&f), "{\"p\":38,\"b\":150}");
    }
}
