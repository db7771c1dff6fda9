//! The bench's output: the table, JSON and an SVG bar chart, from the same rows.

use std::fmt::Write as _;

use super::Sample;

const GIB: f64 = (1u64 << 30) as f64;

/// One method's result in one case (medians over the runs, with their spread).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub case: &'static str,
    pub method: &'static str,
    #[serde(rename = "gib_per_s_median")]
    pub gib_s: f64,
    /// The runs' rates: mean, standard deviation, lowest and highest.
    #[serde(rename = "gib_per_s")]
    pub spread: Spread,
    pub cpu_s_per_gib: f64,
    /// Ratio to the case's first row: read/write for copies, write() for generators.
    #[serde(rename = "vs_baseline")]
    pub vs_base: f64,
    /// Ratio to `std::io::copy` (copy cases only).
    #[serde(rename = "vs_std_io_copy")]
    pub vs_std: Option<f64>,
    #[serde(rename = "cpu_vs_baseline")]
    pub cpu_vs_base: f64,
    pub strategy: String,
    /// Every run, as measured.
    pub samples: Vec<Measured>,
}

/// The spread of a row's rates over its runs.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Spread {
    pub mean: f64,
    pub stddev: f64,
    pub min: f64,
    pub max: f64,
}

/// One run of one method, as the JSON keeps it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Measured {
    pub wall_s: f64,
    pub cpu_s: f64,
    pub bytes: u64,
    pub syscalls: u64,
    pub gib_per_s: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn spread(v: &[f64]) -> Spread {
    if v.is_empty() {
        return Spread::default();
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    Spread {
        mean,
        stddev: var.sqrt(),
        min: v.iter().copied().fold(f64::INFINITY, f64::min),
        max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    }
}

impl Row {
    pub fn from_samples(case: &'static str, method: &'static str, s: &[Sample]) -> Row {
        let gib = |x: &Sample| x.delivered as f64 / GIB;
        let rates: Vec<f64> = s
            .iter()
            .map(|x| gib(x) / x.wall.as_secs_f64().max(1e-9))
            .collect();
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
            gib_s: median(rates.clone()),
            spread: spread(&rates),
            cpu_s_per_gib: cpu,
            vs_base: 0.0,
            vs_std: None,
            cpu_vs_base: 0.0,
            strategy,
            samples: s
                .iter()
                .zip(&rates)
                .map(|(x, &r)| Measured {
                    wall_s: x.wall.as_secs_f64(),
                    cpu_s: x.cpu.as_secs_f64(),
                    bytes: x.delivered,
                    syscalls: x.syscalls,
                    gib_per_s: r,
                })
                .collect(),
        }
    }

    /// The runs' standard deviation as a share of their mean (the table's `±` column).
    fn relative_spread(&self) -> f64 {
        self.spread.stddev / self.spread.mean.max(1e-12)
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

/// The table's column heads, printed before the first case runs (80 columns: a case's name
/// heads its rows; the strategy the engine took follows them).
pub fn print_header() {
    println!(
        "  {:<30} {:>7} {:>5} {:>9} {:>8} {:>7}",
        "method", "GiB/s", "±σ", "CPU s/GiB", "x base", "x std"
    );
}

/// One case's rows, printed as soon as the case is done (then a blank line), so a long run
/// shows its results as they come.
pub fn print_rows(rows: &[Row]) {
    use std::io::Write;
    if let Some(r) = rows.first() {
        println!("{}", r.case);
    }
    for r in rows {
        let method: String = r.method.chars().take(30).collect();
        println!(
            "  {:<30} {:>7.2} {:>4.0}% {:>9.3} {:>8.2} {:>7}",
            method,
            r.gib_s,
            r.relative_spread() * 100.0,
            r.cpu_s_per_gib,
            r.vs_base,
            r.vs_std.map_or("-".to_string(), |v| format!("{v:.2}")),
        );
    }
    for r in rows.iter().filter(|r| r.strategy != "-") {
        print!(
            "{}",
            wrap(&format!("    {}: {}", r.method, r.strategy), "      ")
        );
    }
    println!();
    let _ = std::io::stdout().flush();
}

/// `text` in lines of at most 80 columns, broken at spaces, the lines after the first led by
/// `indent`; each line ends with a newline.
pub fn wrap(text: &str, indent: &str) -> String {
    let mut out = String::new();
    let body = text.trim_start_matches(' ');
    let mut line = " ".repeat(text.len() - body.len());
    let mut fresh = true;
    for word in body.split(' ') {
        if !fresh && line.chars().count() + 1 + word.chars().count() > 80 {
            out.push_str(line.trim_end());
            out.push('\n');
            line = indent.to_string();
        } else if !fresh {
            line.push(' ');
        }
        line.push_str(word);
        fresh = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

/// What each case measured, after the last row.
pub fn print_footer(rows: &[Row], about: &[(&str, &str)]) {
    for (case, text) in about {
        if rows.iter().any(|r| r.case == *case) {
            print!("{}", wrap(&format!("  {case}: {text}"), "      "));
        }
    }
    println!("  GiB/s: bytes delivered / wall time until the far side had them all (median of");
    println!("  the runs; ±σ: their standard deviation, as a share of the mean); CPU: the");
    println!("  copying (generating) thread only. x base: ratio to the case's first row");
    println!("  (read/write for copies, write() for generators); x std: to std::io::copy.");
}

/// The run's JSON, in the manner of hyperfine's: every sample, the statistics, the method,
/// the machine and kernel, and a schema version.
pub fn json(rows: &[Row], size: u64, runs: usize) -> String {
    let rel = rustix::system::uname();
    let doc = serde_json::json!({
        "schema_version": 1,
        "tool": format!("splice bench {}", env!("CARGO_PKG_VERSION")),
        "machine": {
            "kernel": rel.release().to_string_lossy(),
            "arch": rel.machine().to_string_lossy(),
            "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "summary": machine(),
        },
        "size": size,
        "runs": runs,
        "results": rows,
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

/// Whether `method` is splicekit's own (drawn in the plot's main colour).
fn ours(method: &str) -> bool {
    const PEERS: [&str; 7] = [
        "read/write",
        "write()",
        "std::io::copy",
        "tokio",
        "HAProxy",
        "socat",
        "forced",
    ];
    !PEERS.iter().any(|p| method.starts_with(p))
}

/// Horizontal bars of GiB/s, one panel per case with its own scale (a generator's 40 GiB/s
/// would leave a TCP case's bars as slivers), an axis with three ticks, the ratio to the case's
/// baseline after each bar, and a legend: splicekit's rows, forced variants, the others.
pub fn svg(rows: &[Row]) -> String {
    let (bar_h, left, width) = (16.0, 300.0, 380.0);
    let mut cases: Vec<&str> = Vec::new();
    for r in rows {
        if !cases.contains(&r.case) {
            cases.push(r.case);
        }
    }
    let panel_h = |n: usize| 26.0 + n as f64 * (bar_h + 4.0) + 22.0;
    let height: f64 = 64.0
        + cases
            .iter()
            .map(|c| panel_h(rows.iter().filter(|r| r.case == *c).count()))
            .sum::<f64>();
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"20\" font-size=\"14\">splice bench: GiB/s (ratio to the case's first row), {}</text>\n",
        left + width + 110.0,
        xml_text(&machine())
    );
    for (i, (label, color)) in [
        ("splicekit", "#2b7bb9"),
        ("forced path", "#8fb8de"),
        ("baseline or peer", "#999999"),
    ]
    .iter()
    .enumerate()
    {
        let x = 10.0 + i as f64 * 170.0;
        let _ = writeln!(
            s,
            "<rect x=\"{x}\" y=\"32\" width=\"12\" height=\"12\" fill=\"{color}\"/><text x=\"{}\" y=\"42\">{label}</text>",
            x + 16.0
        );
    }
    let mut y = 64.0;
    for case in cases {
        let case_rows: Vec<&Row> = rows.iter().filter(|r| r.case == case).collect();
        let max = case_rows.iter().map(|r| r.gib_s).fold(0.0f64, f64::max);
        let scale = nice(max);
        let _ = writeln!(
            s,
            "<text x=\"10\" y=\"{}\" font-size=\"13\" font-weight=\"bold\">{}</text>",
            y + 14.0,
            xml_text(case)
        );
        y += 22.0;
        let top = y;
        for r in &case_rows {
            let w = r.gib_s / scale * width;
            let color = if r.method.starts_with("forced") {
                "#8fb8de"
            } else if ours(r.method) {
                "#2b7bb9"
            } else {
                "#999999"
            };
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><rect x=\"{left}\" y=\"{y}\" width=\"{w:.1}\" height=\"{bar_h}\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{}\">{:.2} ({:.1}x)</text>",
                left - 6.0,
                y + 12.0,
                xml_text(r.method),
                left + w + 4.0,
                y + 12.0,
                r.gib_s,
                r.vs_base
            );
            y += bar_h + 4.0;
        }
        // The axis: a line under the bars and ticks at 0, half and the scale's top.
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{y}\" stroke=\"black\"/><line x1=\"{left}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"black\"/>",
            left + width
        );
        for k in 0..=2 {
            let x = left + width * k as f64 / 2.0;
            let _ = writeln!(
                s,
                "<line x1=\"{x}\" y1=\"{y}\" x2=\"{x}\" y2=\"{}\" stroke=\"black\"/><text x=\"{x}\" y=\"{}\" text-anchor=\"middle\" font-size=\"10\">{}</text>",
                y + 4.0,
                y + 15.0,
                trim_number(scale * k as f64 / 2.0)
            );
        }
        y += 26.0;
    }
    s.push_str("</svg>\n");
    s
}

/// The axis's top for a largest value `max`: 1, 2 or 5 times a power of ten, at least `max`.
fn nice(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|&v| v >= max)
        .unwrap_or(10.0 * p)
}

/// A tick label: no trailing zeros (`2.5`, `10`, `0.05`).
fn trim_number(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `s` as XML character data: `&`, `<` and `>` escaped (labels such as `spin <=200us`).
fn xml_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
