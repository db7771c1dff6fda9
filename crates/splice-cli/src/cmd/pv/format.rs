//! pv's `-F FORMAT`: the display line written as a string of `%` sequences — `%p` the bar and
//! percentage (it takes the width the rest leaves), `%t` the elapsed time, `%e` the ETA, `%r`
//! the rate, `%a` the average rate, `%b` the amount moved, `%T` the output pipe's fill, `%N`
//! the name, `%%` a percent sign; any other text as it is.

use super::meter::{amount, bar, clock, eta, fit, pct, Look, Reading};

/// Renders `fmt` for the current counts.
pub fn render(fmt: &str, look: &Look, now: &Reading, cols: usize) -> String {
    let (bytes, elapsed, rate, avg) = (now.bytes, now.elapsed, now.rate, now.avg);
    // First every sequence but %p; then the bar fills what is left of the width.
    let mut pieces: Vec<Result<String, ()>> = Vec::new();
    let mut text = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            text.push(c);
            continue;
        }
        let s = match chars.next() {
            Some('t') => clock(elapsed.as_secs()),
            Some('e') => eta(look, bytes, avg).unwrap_or_default(),
            Some('r') => format!("[{}]", amount(look, rate, "/s")),
            Some('a') => format!("[{}]", amount(look, avg, "/s")),
            Some('b') => amount(look, bytes as f64, ""),
            Some('N') => look
                .name
                .as_deref()
                .map(|n| format!("{n:>9}:"))
                .unwrap_or_default(),
            Some('%') => "%".to_string(),
            Some('p') => {
                pieces.push(Ok(std::mem::take(&mut text)));
                pieces.push(Err(()));
                continue;
            }
            Some(other) => format!("%{other}"),
            None => "%".to_string(),
        };
        text.push_str(&s);
    }
    pieces.push(Ok(text));
    let fixed: usize = pieces.iter().flatten().map(|s| s.chars().count()).sum();
    let bars = pieces.iter().filter(|p| p.is_err()).count().max(1);
    let pct_s = look
        .size
        .map(|sz| format!(" {}%", pct(bytes, sz)))
        .unwrap_or_default();
    // Each bar takes `[`, `]` and its percentage besides its inside; one column stays free.
    let w = cols
        .saturating_sub(fixed + 1)
        .saturating_sub(bars * (2 + pct_s.len()))
        / bars;
    let line: String = pieces
        .into_iter()
        .map(|p| match p {
            Ok(s) => s,
            Err(()) => {
                format!("[{}]{pct_s}", bar(look, bytes, elapsed, w))
            }
        })
        .collect();
    fit(line, cols)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sequences_are_replaced_and_the_bar_fills_the_rest() {
        let look = Look {
            size: Some(300),
            name: Some("nm".into()),
            ..Look::default()
        };
        let now = Reading {
            bytes: 150,
            elapsed: Duration::from_secs(61),
            rate: 1024.0,
            avg: 512.0,
        };
        let r = |f: &str| render(f, &look, &now, 60);
        assert_eq!(r("%b|%t"), "150B|0:01:01");
        assert_eq!(r("x%%y %N"), "x%y        nm:");
        assert_eq!(r("%r %a"), "[1.00KiB/s] [512B/s]");
        assert_eq!(r("%e"), "ETA 0:00:01");
        assert_eq!(r("%q"), "%q");
        let p = r("<%p>");
        assert!(p.starts_with("<[=") && p.ends_with("] 50%>"), "{p}");
        assert_eq!(p.chars().count(), 59, "{p}");
    }
}
