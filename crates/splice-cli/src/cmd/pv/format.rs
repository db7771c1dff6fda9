//! pv's display line, drawn from a format string of `%` sequences (`-F`, or the one the display
//! switches make, in pv's order `%N %b %T %t %r %a %p %e %I %A`):
//! `%p` the bar and percentage (it takes the width the rest leaves), `%t` the elapsed time,
//! `%e` the time left, `%I` the local time it will end, `%r` the rate, `%a` the average rate,
//! `%b` the amount moved, `%T` the output pipe's fill, `%NA` the last N bytes written,
//! `%N` the name, `%%` a percent sign; pv 1.9's long forms (`%{timer}`, `%{eta}`…) too; any
//! other text as it is.

use super::meter::{amount, bar, buffer_fill, clock, pct, Look, Reading};

/// One piece of a format string.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    /// `%p`: `[bar] pct%`; with `sides` false the bar alone (`%{progress-bar-only}`).
    Bar {
        sides: bool,
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
    Name,
}

/// The format the display switches make, as pv builds it.
pub fn from_switches(look: &Look) -> String {
    let mut f: Vec<String> = Vec::new();
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
            match body.find('}') {
                Some(end) => (&body[..end], end + 2),
                None => ("?", 0),
            }
        } else {
            match seq.chars().next() {
                Some(c) => (&seq[..c.len_utf8()], c.len_utf8()),
                None => ("", 0),
            }
        };
        let piece = match name {
            "p" | "progress" => Some(Piece::Bar { sides: true }),
            "progress-bar-only" => Some(Piece::Bar { sides: false }),
            "progress-amount-only" => Some(Piece::Percent),
            "t" | "timer" => Some(Piece::Timer),
            "e" | "eta" => Some(Piece::Eta),
            "I" | "fineta" => Some(Piece::FinEta),
            "r" | "rate" => Some(Piece::Rate),
            "a" | "average-rate" => Some(Piece::Average),
            "b" | "bytes" | "transferred" => Some(Piece::Bytes),
            "T" | "buffer-percent" => Some(Piece::Buffer),
            "A" | "last-written" => Some(Piece::Last(num.clamp(1, 256))),
            "N" | "name" => Some(Piece::Name),
            _ => None,
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

/// Renders `fmt` for the current reading, `cols` columns wide at most.
pub fn render(fmt: &str, look: &Look, now: &Reading, cols: usize) -> String {
    let pieces = parse(fmt);
    let (bytes, elapsed) = (now.bytes, now.elapsed);
    // Every piece but the bar first; the bars then share the width that is left.
    let fixed: Vec<Option<String>> = pieces
        .iter()
        .map(|p| {
            Some(match p {
                Piece::Text(t) => t.clone(),
                Piece::Bar { .. } => return None,
                Piece::Percent => look.size.map(|s| percent(bytes, s)).unwrap_or_default(),
                Piece::Timer => timer(elapsed.as_secs()),
                Piece::Eta => eta(look, now),
                Piece::FinEta => fin_eta(look, now),
                Piece::Rate => format!("[{}]", amount(look, now.rate, "/s")),
                Piece::Average => format!("({})", amount(look, now.avg, "/s")),
                Piece::Bytes => amount(look, bytes as f64, ""),
                Piece::Buffer => buffer_fill(),
                Piece::Last(n) => last_written(&now.last, *n),
                Piece::Name => look
                    .name
                    .as_deref()
                    .map(|n| format!("{n:>9}:"))
                    .unwrap_or_default(),
            })
        })
        .collect();
    let used: usize = fixed.iter().flatten().map(|s| s.chars().count()).sum();
    let bars = fixed.iter().filter(|p| p.is_none()).count().max(1);
    let each = cols.saturating_sub(used) / bars;
    let line: String = pieces
        .iter()
        .zip(fixed)
        .map(|(p, s)| match (p, s) {
            (_, Some(s)) => s,
            (Piece::Bar { sides }, None) => progress(look, now, each, *sides),
            _ => String::new(),
        })
        .collect();
    line.chars().take(cols).collect()
}

/// pv 1.9's percentage after the bar: ` %3d%`.
fn percent(bytes: u64, size: u64) -> String {
    format!("{:>3}%", pct(bytes, size))
}

/// The bar in `width` columns: `[====>    ]  50%` with a size, a moving `<=>` without; left
/// out (empty) when the width cannot hold it.
fn progress(look: &Look, now: &Reading, width: usize, sides: bool) -> String {
    let side_cols = if sides { 2 } else { 0 };
    let (open, close) = if sides { ("[", "]") } else { ("", "") };
    // A share of the bar filled, and what follows the bar.
    let (share, after) = match look.size {
        Some(size) => (
            pct(now.bytes, size).min(100) as usize,
            format!(" {}", percent(now.bytes, size)),
        ),
        // -g: the rate as a share of the highest seen, that maximum after the bar.
        None if look.gauge => (
            if now.rate_max > 0.0 {
                ((now.rate / now.rate_max).clamp(0.0, 1.0) * 100.0) as usize
            } else {
                0
            },
            format!(" /{}", amount(look, now.rate_max, "/s").trim_start()),
        ),
        None => {
            let Some(area) = width.checked_sub(side_cols).filter(|&a| a >= 3) else {
                return String::new();
            };
            return format!("{open}{}{close}", bar(now.moves, area));
        }
    };
    let after = if sides { after } else { String::new() };
    let Some(area) = width
        .checked_sub(after.len() + side_cols)
        .filter(|&a| a > 0)
    else {
        return String::new();
    };
    // As pv: the filled part is the share, one column of it given to the tip.
    let filled = (area * share / 100).saturating_sub(1);
    let mut b = "=".repeat(filled);
    if filled < area {
        b.push('>');
    }
    b.push_str(&" ".repeat(area - b.len()));
    format!("{open}{b}{close}{after}")
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

    fn reading(bytes: u64) -> Reading {
        Reading {
            bytes,
            elapsed: Duration::from_secs(61),
            rate: 1024.0,
            avg: 512.0,
            done: false,
            last: b"ab\ncd".to_vec(),
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
        let r = |f: &str| render(f, &look, &now, 60);
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
        assert_eq!(render("%e|", &look, &done, 60), "           |");
        assert_eq!(render("[%p]", &look, &done, 12), "[[==>] 100%]");
        // Unknown size: the indicator 60% of the way (30 moving redraws, 2% each).
        let unknown = Look::default();
        assert_eq!(render("%p", &unknown, &now, 15), "[      <=>    ]");
        // -g: the rate (1 KiB/s) is half the highest seen (2 KiB/s).
        let gauge = Look {
            gauge: true,
            ..Look::default()
        };
        assert_eq!(
            render("%p", &gauge, &now, 30),
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
        let f = render("%I", &look, &now, 80);
        assert!(f.starts_with("FIN ") && f.len() == 12, "{f}");
        now.avg = 0.01;
        let f = render("%I", &look, &now, 80);
        assert!(
            f.starts_with("FIN ") && f.len() == 23,
            "past 6 h the date too: {f}"
        );
        assert_eq!(render("%I", &Look::default(), &now, 80), "");
    }
}
