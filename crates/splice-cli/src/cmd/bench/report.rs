//! The bench's output: the table, JSON and an SVG bar chart, from the same rows.

use std::fmt::Write as _;

use super::Sample;

const GIB: f64 = (1u64 << 30) as f64;

/// One method's result in one case (medians over the runs).
#[derive(Debug, Clone)]
pub struct Row {
    pub case: &'static str,
    pub method: &'static str,
    pub gib_s: f64,
    pub cpu_s_per_gib: f64,
    /// Ratio to the case's first row: read/write for copies, write() for generators.
    pub vs_base: f64,
    /// Ratio to `std::io::copy` (copy cases only).
    pub vs_std: Option<f64>,
    pub cpu_vs_base: f64,
    pub strategy: String,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

impl Row {
    pub fn from_samples(case: &'static str, method: &'static str, s: &[Sample]) -> Row {
        let gib = |x: &Sample| x.delivered as f64 / GIB;
        let rate = median(
            s.iter()
                .map(|x| gib(x) / x.wall.as_secs_f64().max(1e-9))
                .collect(),
        );
        let cpu = median(
            s.iter()
                .map(|x| x.cpu.as_secs_f64() / gib(x).max(1e-12))
                .collect(),
        );
        let calls = median(s.iter().map(|x| x.syscalls as f64).collect());
        let strategy = match s.iter().find_map(|x| x.strategy) {
            Some(st) => format!(
                "{st}, {:.0} KiB/call",
                (s[0].delivered as f64 / 1024.0) / calls.max(1.0)
            ),
            None => "-".to_string(),
        };
        Row {
            case,
            method,
            gib_s: rate,
            cpu_s_per_gib: cpu,
            vs_base: 0.0,
            vs_std: None,
            cpu_vs_base: 0.0,
            strategy,
        }
    }
}

/// Fills the ratio columns of one case's rows: the first row is the baseline; with
/// `has_std`, the second is `std::io::copy`.
pub fn with_ratios(mut rows: Vec<Row>, has_std: bool) -> Vec<Row> {
    let (rw, rw_cpu) = (rows[0].gib_s, rows[0].cpu_s_per_gib);
    let std = rows.get(1).filter(|_| has_std).map(|r| r.gib_s);
    for r in &mut rows {
        r.vs_base = r.gib_s / rw.max(1e-12);
        r.vs_std = std.map(|s| r.gib_s / s.max(1e-12));
        r.cpu_vs_base = r.cpu_s_per_gib / rw_cpu.max(1e-12);
    }
    rows
}

pub fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 => format!("{:.0} MiB", b as f64 / (1 << 20) as f64),
        b => format!("{b} bytes"),
    }
}

pub fn machine() -> String {
    let rel = rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("Linux {rel}, {cpus} CPUs")
}

/// The table's column heads, printed before the first case runs.
pub fn print_header() {
    println!(
        "{:<16} {:<30} {:>7} {:>10} {:>12} {:>8} {:>11}  strategy",
        "case", "method", "GiB/s", "CPU s/GiB", "x base", "x std", "CPU x base"
    );
}

/// One case's rows, printed as soon as the case is done (then a blank line), so a long run
/// shows its results as they come.
pub fn print_rows(rows: &[Row]) {
    use std::io::Write;
    for r in rows {
        println!(
            "{:<16} {:<30} {:>7.2} {:>10.3} {:>12.2} {:>8} {:>11.2}  {}",
            r.case,
            r.method,
            r.gib_s,
            r.cpu_s_per_gib,
            r.vs_base,
            r.vs_std.map_or("-".to_string(), |v| format!("{v:.2}")),
            r.cpu_vs_base,
            r.strategy
        );
    }
    println!();
    let _ = std::io::stdout().flush();
}

/// What each case measured, after the last row.
pub fn print_footer(rows: &[Row], about: &[(&str, &str)]) {
    for (case, text) in about {
        if rows.iter().any(|r| r.case == *case) {
            println!("  {case}: {text}");
        }
    }
    println!("  GiB/s: bytes delivered / wall time until the far side had them all; CPU: the copying (generating) thread only.");
    println!(
        "  x base: ratio to the case's first row (read/write for copies, write() for generators)."
    );
}

pub fn json(rows: &[Row], size: u64, runs: usize) -> String {
    let mut s = format!(
        "{{\n  \"size\": {size},\n  \"runs\": {runs},\n  \"machine\": \"{}\",\n  \"rows\": [\n",
        machine()
    );
    for (i, r) in rows.iter().enumerate() {
        let _ = writeln!(
            s,
            "    {{\"case\": \"{}\", \"method\": \"{}\", \"gib_per_s\": {:.4}, \"cpu_s_per_gib\": {:.4}, \"vs_baseline\": {:.4}, \"vs_std_io_copy\": {}, \"cpu_vs_baseline\": {:.4}, \"strategy\": \"{}\"}}{}",
            r.case, r.method, r.gib_s, r.cpu_s_per_gib, r.vs_base,
            r.vs_std.map_or("null".to_string(), |v| format!("{v:.4}")), r.cpu_vs_base, r.strategy,
            if i + 1 < rows.len() { "," } else { "" }
        );
    }
    s.push_str("  ]\n}\n");
    s
}

/// A horizontal bar chart of GiB/s per method, grouped by case, with the ratio to the
/// case's baseline.
pub fn svg(rows: &[Row]) -> String {
    let (bar_h, gap, left, width) = (18.0, 14.0, 330.0, 420.0);
    let max = rows
        .iter()
        .map(|r| r.gib_s)
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let cases = rows
        .iter()
        .map(|r| r.case)
        .collect::<std::collections::BTreeSet<_>>()
        .len() as f64;
    let height = 40.0 + rows.len() as f64 * (bar_h + 4.0) + cases * gap;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"20\" font-size=\"14\">splice bench: GiB/s (ratio to the case's first row), {}</text>\n",
        left + width + 90.0,
        xml_text(&machine())
    );
    let mut y = 34.0;
    let mut last = "";
    for r in rows {
        if r.case != last {
            y += gap;
            last = r.case;
        }
        let w = r.gib_s / max * width;
        let color = if r.method.starts_with("splicekit") || r.method.starts_with("shared") {
            "#2b7bb9"
        } else if r.method.starts_with("forced") {
            "#8fb8de"
        } else {
            "#999999"
        };
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{} · {}</text><rect x=\"{left}\" y=\"{y}\" width=\"{w:.1}\" height=\"{bar_h}\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{}\">{:.2} ({:.1}x)</text>",
            left - 6.0,
            y + 13.0,
            xml_text(r.case),
            xml_text(r.method),
            left + w + 4.0,
            y + 13.0,
            r.gib_s,
            r.vs_base
        );
        y += bar_h + 4.0;
    }
    s.push_str("</svg>\n");
    s
}

/// `s` as XML character data: `&`, `<` and `>` escaped (labels such as `spin <=200us`).
fn xml_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
