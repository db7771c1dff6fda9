//! `splice bench` runs every case end to end and writes its JSON and SVG.

use crate::util::*;

#[test]
fn bench_runs_every_case_and_writes_json_and_svg() {
    let d = Dir::new();
    let o = sh(
        "$S bench --size 4M --gen-size 64M --relay-size 64M --runs 2 --dir . --json b.json --plot b.svg",
        d.path(),
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // The table fits an 80-column terminal.
    let wide: Vec<&str> = stdout.lines().filter(|l| l.chars().count() > 80).collect();
    assert!(wide.is_empty(), "{wide:#?}");
    let json = std::fs::read_to_string(d.path().join("b.json")).unwrap();
    // Parsed as JSON: the schema, the machine, and every run's sample in every row.
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["runs"], 2);
    assert!(doc["machine"]["kernel"]
        .as_str()
        .is_some_and(|k| !k.is_empty()));
    let results = doc["results"].as_array().unwrap();
    for r in results {
        let samples = r["samples"].as_array().unwrap();
        assert_eq!(samples.len(), 2, "{r}");
        let rates: Vec<f64> = samples
            .iter()
            .map(|x| x["gib_per_s"].as_f64().unwrap())
            .collect();
        let (lo, hi) = (rates[0].min(rates[1]), rates[0].max(rates[1]));
        assert_eq!(r["gib_per_s"]["min"].as_f64(), Some(lo), "{r}");
        assert_eq!(r["gib_per_s"]["max"].as_f64(), Some(hi), "{r}");
        assert!(samples.iter().all(|x| x["bytes"].as_u64() > Some(0)), "{r}");
    }
    let json: String = results
        .iter()
        .map(|r| format!("\"case\": {}, \"method\": {}\n", r["case"], r["method"]))
        .collect();
    for case in ["file-pipe", "file-file", "pipe-pipe", "file-tcp", "tcp-tcp"] {
        let rows = json.matches(&format!("\"case\": \"{case}\"")).count();
        assert!(rows >= 3, "{case}: {rows} rows in JSON");
        assert!(stdout.contains(case), "{case} missing from the table");
    }
    assert_eq!(json.matches("\"method\": \"splicekit::copy\"").count(), 5);
    let row = "\"case\": \"tee-4-pipes\", \"method\": \"splicekit::FanOut, io_uring\"";
    assert!(json.contains(row), "{row}");
    for case in ["file-pipe", "pipe-pipe", "tcp-tcp"] {
        let row = format!("\"case\": \"{case}\", \"method\": \"splicekit::copy, io_uring\"");
        assert!(json.contains(&row), "{row}");
    }
    for method in ["read/write meter 128 KiB", "splice pv loop"] {
        let row = format!("\"case\": \"pv\", \"method\": \"{method}\"");
        assert!(json.contains(&row), "{row}");
    }
    for case in ["tee-1-pipe", "tee-2-pipes", "tee-4-pipes", "tee-4-files"] {
        for method in [
            "read/write 128 KiB",
            "read/write 8 KiB (GNU tee)",
            "splicekit::FanOut",
        ] {
            let row = format!("\"case\": \"{case}\", \"method\": \"{method}\"");
            assert!(json.contains(&row), "{row}");
        }
    }
    for case in ["gen-splice", "gen-read"] {
        for method in [
            "write() 1 MiB",
            "gift, 2 MiB pages",
            "recycle, 4 KiB pages",
            "shared, 2 MiB pages",
        ] {
            let row = format!("\"case\": \"{case}\", \"method\": \"{method}\"");
            assert!(json.contains(&row), "{row}");
        }
    }
    for case in ["small-files-pipe", "small-files-null"] {
        for method in [
            "read/write per file (GNU 9.1)",
            "splicekit::copy per file",
            "gathered (splice cat)",
        ] {
            let row = format!("\"case\": \"{case}\", \"method\": \"{method}\"");
            assert!(json.contains(&row), "{row}");
        }
    }
    assert!(
        !listing(d.path())
            .iter()
            .any(|n| n.starts_with("splice-bench-small")),
        "the small files are removed"
    );
    for case in ["relay-1", "relay-64"] {
        for method in [
            "tokio copy_bidirectional",
            "splice relay",
            "splice relay, io_uring",
            "splice relay, PROXY v2, 3 ups",
        ] {
            let row = format!("\"case\": \"{case}\", \"method\": \"{method}\"");
            assert!(json.contains(&row), "{row}");
        }
    }
    let svg = std::fs::read_to_string(d.path().join("b.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    // Valid XML (labels such as "spin <=200us" escaped), read by a real parser.
    if have("python3", "an XML parser for the SVG") {
        let o = sh(
            "python3 -c 'import sys, xml.etree.ElementTree as E; \
             r = E.parse(\"b.svg\").getroot(); \
             print(sum(1 for t in r.iter() if t.tag.endswith(\"text\") and \"<=\" in (t.text or \"\")))'",
            d.path(),
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            "2",
            "the spin rows' labels"
        );
    }
    // Rendered once by a real SVG renderer (rsvg-convert, which .ci/run installs).
    if have("rsvg-convert", "an SVG renderer for the plot") {
        let o = sh(
            "rsvg-convert -o b.png b.svg && head -c 8 b.png | od -An -c",
            d.path(),
        );
        assert!(o.status.success(), "{o:?}");
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("P   N   G"),
            "{o:?}"
        );
    }
    // A bar per row, plus the legend's three swatches.
    assert_eq!(
        svg.matches("<rect x=").count(),
        json.matches("\"case\"").count() + 3
    );
    // The generated data file is removed afterwards.
    let left: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("splice-bench"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn bench_rejects_bad_arguments() {
    let d = Dir::new();
    let o = sh("$S bench --size 12X", d.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid size: ‘12X’"));
    let o = sh("$S bench --case nope --size 1M", d.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no such case: nope"));
}
