//! pv's `-E`, `-A`, `-I`, `-R` and `-c`: against the system's pv 1.6.20 where it gives the
//! pv 1.9 answer, and against pv 1.9's documented behaviour (written here) otherwise.

use std::time::{Duration, Instant};

use crate::util::*;

/// `-E`: a read error is skipped past, zeros written in its place, pv's messages and exit
/// status 16. Read errors are injected with strace on the file's own reads.
#[test]
fn skip_errors_writes_zeros_where_reads_failed() {
    if !have_strace() {
        return;
    }
    let d = Dir::new();
    let content = data(10_000);
    d.file("f", &content);
    let inject = |n: u32, t: &str| {
        format!(
            "strace -f -o /dev/null -P \"$PWD/f\" -e trace=read \
             -e inject=read:error=EIO:when=1..{n} {t} f"
        )
    };
    // Three failed reads in a row at the start: three one-byte skips.
    let (out, err, st) = run(&inject(3, "$S pv -E"), &d);
    let mut want = vec![0u8; 3];
    want.extend_from_slice(&content[3..]);
    assert_eq!(sha(&out), sha(&want));
    assert_eq!(
        err,
        "pv: f: warning: read errors detected: Input/output error\n\
         pv: f: skipped past read error: 0 - 1 (1 B)\n\
         pv: f: skipped past read error: 1 - 2 (1 B)\n\
         pv: f: skipped past read error: 2 - 3 (1 B)\n"
    );
    assert_eq!(st, Some(16));
    // -EE: the one warning, no line per skip.
    let (out, err, st) = run(&inject(3, "$S pv -EE"), &d);
    assert_eq!(sha(&out), sha(&want));
    assert_eq!(
        err,
        "pv: f: warning: read errors detected: Input/output error\n"
    );
    assert_eq!(st, Some(16));
    // Without -E the first error ends the file.
    let (out, err, st) = run(&inject(1, "$S pv"), &d);
    assert!(out.is_empty());
    assert_eq!(err, "pv: f: read failed: Input/output error\n");
    assert_eq!(st, Some(16));
    // Fourteen in a row: the skips grow (1, then 2, then doubling) and end on multiples of
    // their size, exactly as pv 1.6.20 (with -C, as it splices otherwise) skips them.
    if have("pv", "compared against pv 1.6.20") {
        let ours = run(&inject(14, "$S pv -E"), &d);
        let pv = run(&inject(14, "pv -C -E"), &d);
        assert_eq!(sha(&ours.0), sha(&pv.0));
        assert_eq!((&ours.1, ours.2), (&pv.1, pv.2));
        assert!(ours.1.ends_with("24 - 32 (8 B)\n"), "{}", ours.1);
    }
    // -Z 512 (pv 1.9): each skip is a 512-byte block, ending on a multiple of 512.
    let (out, err, st) = run(&inject(3, "$S pv -E -Z 512"), &d);
    let mut want = vec![0u8; 1536];
    want.extend_from_slice(&content[1536..]);
    assert_eq!(sha(&out), sha(&want));
    assert_eq!(
        err,
        "pv: f: warning: read errors detected: Input/output error\n\
         pv: f: skipped past read error: 0 - 512 (512 B)\n\
         pv: f: skipped past read error: 512 - 1024 (512 B)\n\
         pv: f: skipped past read error: 1024 - 1536 (512 B)\n"
    );
    assert_eq!(st, Some(16));
    // Without errors -E (and -A, the other copy through memory) changes nothing, at the
    // boundary sizes, from a file and from a pipe.
    for n in SIZES {
        let c = data(n);
        d.file("g", &c);
        for script in [
            "$S pv -q -E g | cat",
            "cat g | $S pv -q -E | cat",
            "$S pv -q -A 8 g | cat",
            "cat g | $S pv -q -A 8 -S -s 70000 | cat",
        ] {
            let (out, err, st) = run(script, &d);
            assert_eq!(
                (sha(&out), err.as_str(), st),
                (sha(&c), "", Some(0)),
                "{n}: {script}"
            );
        }
    }
    // -S stops the copy through memory at the size, on a page boundary and one past it.
    for stop in [4096usize, 4097] {
        let (out, _, st) = run(&format!("cat g | $S pv -q -A 8 -S -s {stop} | cat"), &d);
        assert_eq!(
            (sha(&out), st),
            (sha(&data(65537)[..stop]), Some(0)),
            "{stop}"
        );
    }
}

/// `-A N`: the last N bytes written, unprintable ones as `.`; the bytes unchanged.
#[test]
fn last_written_shows_the_end_of_the_output() {
    let d = Dir::new();
    // pv 1.9's own test: a slow sequence, watched by a second pv.
    let (out, err, st) = run(
        "seq -w 3 1 100 | $S pv -qL 200 | $S pv -f -A 16 -i 0.2 2>err; cat err >&2",
        &d,
    );
    assert_eq!(st, Some(0));
    let want: String = (3..=100).map(|i| format!("{i:03}\n")).collect();
    assert_eq!(sha(&out), sha(want.as_bytes()));
    let lines = drawn(&err);
    let distinct: std::collections::BTreeSet<_> = lines.iter().collect();
    assert!(distinct.len() > 5, "{lines:?}");
    assert_eq!(lines.last().map(|l| l.trim()), Some("097.098.099.100."));
    // In a format string, with the other fields; before 16 bytes, dots fill the rest.
    let (_, err, _) = run("printf 'ab\\tc' | $S pv -f -F '%b|%6A|'", &d);
    assert_eq!(
        drawn(&err).last().map(String::as_str),
        Some("4.00  B|..ab.c|")
    );
}

/// `-I`: `FIN` and the local clock time the transfer should end, as `date` shows it;
/// the date too when that is more than six hours away.
#[test]
fn fineta_shows_the_local_finish_time() {
    let d = Dir::new();
    let check = |tz: &str| {
        let (_, err, st) = run(
            &format!(
                "export TZ={tz}; date +%s >start; dd if=/dev/zero bs=100 count=1 2>/dev/null \
                 | $S pv -f -I -s 100 -i 0.1 -L 25 >/dev/null; date +%s >end"
            ),
            &d,
        );
        assert_eq!(st, Some(0));
        let lines = drawn(&err);
        assert!(!lines.is_empty());
        let at = |f: &str| {
            let s = std::fs::read_to_string(d.path().join(f)).unwrap();
            s.trim().parse::<i64>().unwrap()
        };
        let (t0, t1) = (at("start"), at("end"));
        for l in &lines {
            let hms = l
                .trim()
                .strip_prefix("FIN ")
                .unwrap_or_else(|| panic!("{l:?}"));
            assert_eq!(hms.len(), 8, "{l:?}");
            // The estimate lies between the start and a little after the end.
            let o = sh(
                &format!(
                    "export TZ={tz}; for t in $(seq {} {}); do date -d @$t +%T; done",
                    t0,
                    t1 + 3
                ),
                d.path(),
            );
            let times = String::from_utf8_lossy(&o.stdout).into_owned();
            assert!(times.lines().any(|t| t == hms), "{hms} not in {times}");
        }
        lines.len()
    };
    assert!(check("UTC") >= 3);
    check("Asia/Tokyo");
    // More than six hours away: the date as well.
    let (_, err, _) = run(
        "head -c 1000 /dev/zero | timeout 2 $S pv -f -I -s 1G -i 0.5 -L 1000 >/dev/null",
        &d,
    );
    let l = drawn(&err).into_iter().last().unwrap_or_default();
    let when = l
        .trim()
        .strip_prefix("FIN ")
        .unwrap_or_else(|| panic!("{l:?}"));
    assert_eq!(when.len(), 19, "YYYY-MM-DD HH:MM:SS: {l:?}");
}

/// `-R PID`: a running `splice pv` takes new options — the rate limit (the transfer that
/// would take minutes ends in seconds) and the display (a new name and switches).
#[test]
fn remote_changes_a_running_pv() {
    let d = Dir::new();
    let content = data(3 << 20);
    d.file("big", &content);
    let t0 = Instant::now();
    let (out, err, st) = run(
        "$S pv -f -b -i 0.1 -L 20K big >out 2>err & p=$!; sleep 0.5; \
         $S pv -R $p -N fast -b -r -L 100M; echo \"sent $?\"; wait $p; echo \"pv $?\"; cat err >&2",
        &d,
    );
    assert_eq!(st, Some(0));
    assert_eq!(String::from_utf8_lossy(&out), "sent 0\npv 0\n", "{err}");
    assert!(
        t0.elapsed() < Duration::from_secs(60),
        "at 20 KiB/s the 3 MiB would take 150 s"
    );
    let got = std::fs::read(d.path().join("out")).unwrap();
    assert_eq!(sha(&got), sha(&content));
    let lines = drawn(&err);
    let last = lines.last().cloned().unwrap_or_default();
    assert!(
        last.starts_with("     fast:") && last.contains("B/s]"),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| !l.contains("fast")), "{lines:?}");
    // A process that does not exist, and one that is not a splice pv.
    let (_, err, st) = run("$S pv -R 999999999 -L 1M", &d);
    assert_eq!(
        (err.as_str(), st),
        ("pv: 999999999: No such process\n", Some(1))
    );
    let (_, err, st) = run("sleep 5 & $S pv -R $! -L 1M; s=$?; kill $!; exit $s", &d);
    assert!(
        err.ends_with("message not taken (is it a running splice pv?)\n"),
        "{err}"
    );
    assert_eq!(st, Some(1));
    assert!(
        !std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .flatten()
            .any(
                |e| e.file_name().to_string_lossy().contains("splice-pv-remote")
                    && e.file_name()
                        .to_string_lossy()
                        .ends_with(&format!(".{}", std::process::id()))
            ),
        "no message file left behind"
    );
}

/// `-c` on a terminal: three meters of one pipeline keep a row each, below the line where
/// the pipeline started, and the shell's next output comes below all three.
#[test]
fn cursor_gives_each_meter_of_a_pipeline_its_own_row() {
    if !have("tmux", "a terminal screen") {
        return;
    }
    let d = Dir::new();
    d.file("z", &[0u8; 3000]);
    let screen = tmux_screen(
        &d,
        100,
        12,
        "$S pv -c -N one -L 2000 -i 0.2 z | $S pv -c -N two -i 0.2 | \
         $S pv -c -N three -i 0.2 > /dev/null; echo after",
        "after",
    );
    let rows: Vec<&str> = screen.lines().collect();
    // The typed command may wrap; the meters' rows come right below it, "after" below them.
    let after = rows
        .iter()
        .position(|l| *l == "after")
        .unwrap_or_else(|| panic!("{screen}"));
    let top = after.checked_sub(4).unwrap_or_else(|| panic!("{screen}"));
    assert!(rows[top].ends_with("echo after"), "{screen}");
    let mut names: Vec<&str> = rows[top + 1..top + 4]
        .iter()
        .map(|l| l.split(':').next().unwrap_or("").trim())
        .collect();
    names.sort();
    assert_eq!(names, ["one", "three", "two"], "{screen}");
    assert_eq!(rows[top + 4], "after", "{screen}");
    for l in &rows[top + 1..top + 4] {
        assert!(
            l.contains("2.93KiB"),
            "every meter saw all 3000 bytes: {screen}"
        );
    }
    assert!(
        rows[top + 1..top + 4].iter().any(|l| l.ends_with("] 100%")),
        "{screen}"
    );
    let left = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("splice-pv-cursor")
        })
        .count();
    assert_eq!(left, 0, "the last meter removes the shared row file");
}

/// `-c` without a terminal draws as without it; `-n -t` prefixes the elapsed seconds as pv
/// does.
#[test]
fn cursor_and_numeric_timer() {
    let d = Dir::new();
    d.file("z", &[0u8; 300]);
    let (out, err, st) = run("$S pv -f -c -b z | wc -c", &d);
    assert_eq!((String::from_utf8_lossy(&out).trim(), st), ("300", Some(0)));
    assert_eq!(drawn(&err).last().map(|l| l.trim()), Some("300  B"));
    let (_, err, st) = run("$S pv -f -n -t -s 300 z >/dev/null", &d);
    assert_eq!(st, Some(0));
    let last = drawn(&err).pop().unwrap_or_default();
    let (secs, pct) = last.split_once(' ').unwrap_or_else(|| panic!("{last:?}"));
    assert!(secs.parse::<f64>().is_ok() && secs.split('.').nth(1).map(str::len) == Some(4));
    assert_eq!(pct, "100");
}

/// pv 1.9's `-o FILE` (write there instead of stdout) and `-X` (discard), byte-exact at the
/// boundary sizes; an output that cannot be created is an open failure (status 2).
#[test]
fn output_file_and_discard() {
    let d = Dir::new();
    for n in SIZES {
        let c = data(n);
        d.file("in", &c);
        let (out, err, st) = run("$S pv -q -o got in", &d);
        assert_eq!((out.len(), err.as_str(), st), (0, "", Some(0)), "{n}");
        assert_eq!(
            sha(&std::fs::read(d.path().join("got")).unwrap()),
            sha(&c),
            "{n}"
        );
        let (out, err, st) = run("$S pv -f -n -b -X in", &d);
        assert_eq!((out.len(), st), (0, Some(0)), "{n}");
        assert_eq!(
            drawn(&err).last().map(String::as_str),
            Some(&*n.to_string())
        );
    }
    let (_, err, st) = run("$S pv -q -o no/such/dir in", &d);
    assert_eq!(
        (err.as_str(), st),
        ("pv: no/such/dir: No such file or directory\n", Some(2))
    );
}

/// `-n` without a size: pv's percentage climbs 2 on each redraw that saw bytes move (and
/// stays on a redraw that saw none), as pv 1.6.20 and 1.9 print it; `-n -b` counts a slow
/// pipe's bytes as they arrive.
#[test]
fn numeric_without_a_size_climbs_as_pvs() {
    let d = Dir::new();
    let script = "(printf hello; sleep 1.2; printf world) | $T -f -n -i 0.5 2>&1 >/dev/null";
    let (out, _, st) = run(&script.replace("$T", "$S pv"), &d);
    assert_eq!(
        (String::from_utf8_lossy(&out).as_ref(), st),
        ("2\n2\n4\n", Some(0))
    );
    if have("pv", "compared against pv 1.6.20") {
        let (pv, _, _) = run(&script.replace("$T", "pv"), &d);
        assert_eq!(out, pv);
    }
    // The bytes of a slow pipe are counted as they come, not when a chunk has gathered.
    let (out, _, _) = run(&script.replace("$T", "$S pv -b"), &d);
    assert_eq!(String::from_utf8_lossy(&out), "5\n5\n10\n");
}

/// pv 1.9's `-v`: at the end, the rates of the intervals seen, `min/avg/max/mdev`, also with
/// `-q`; `rate not measured` when the transfer ended before a first interval.
#[test]
fn stats_at_the_end() {
    let d = Dir::new();
    let (out, err, st) = run(
        "head -c 3000 /dev/zero | $S pv -q -v -L 6000 -i 0.1 | wc -c",
        &d,
    );
    assert_eq!(
        (String::from_utf8_lossy(&out).trim(), st),
        ("3000", Some(0))
    );
    let nums: Vec<f64> = err
        .strip_prefix("rate min/avg/max/mdev = ")
        .and_then(|r| r.strip_suffix(" B/s\n"))
        .unwrap_or_else(|| panic!("{err:?}"))
        .split('/')
        .map(|x| x.parse().unwrap())
        .collect();
    let [min, avg, max, mdev] = nums[..] else {
        panic!("{err:?}")
    };
    assert!(min <= avg && avg <= max && mdev >= 0.0, "{err:?}");
    assert!(
        (3000.0..=9000.0).contains(&avg),
        "about the -L rate: {err:?}"
    );
    let (_, err, _) = run("head -c 10 /dev/zero | $S pv -q -v > /dev/null", &d);
    assert_eq!(err, "rate not measured\n");
    let (_, err, _) = run(
        "head -c 3000 /dev/zero | $S pv -f -8 -v -b -L 6000 -i 0.1 >/dev/null",
        &d,
    );
    let lines = drawn(&err);
    assert!(
        lines.last().is_some_and(|l| l.ends_with(" b/s")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .rev()
            .nth(1)
            .is_some_and(|l| l.trim() == "23.4Kib"),
        "{lines:?}"
    );
}

/// pv 1.9's `-k`: decimal units, one-letter prefixes (`2.50MB`, `12.0 B`).
#[test]
fn si_units() {
    let d = Dir::new();
    let (_, err, st) = run("head -c 2500000 /dev/zero | $S pv -f -k -b >/dev/null", &d);
    assert_eq!(
        (drawn(&err).last().map(|l| l.trim()), st),
        (Some("2.50MB"), Some(0))
    );
    let (_, err, _) = run("head -c 12 /dev/zero | $S pv -f -k -b >/dev/null", &d);
    assert_eq!(drawn(&err).last().map(|l| l.trim()), Some("12.0 B"));
}

/// pv 1.9's `-g`: with no size, the bar is the rate against the highest rate seen, which
/// follows the bar (`[====>   ] /3.66KiB/s`); with a size, `-g` changes nothing.
#[test]
fn gauge_shows_the_rate_against_its_maximum() {
    let d = Dir::new();
    let (_, err, st) = run(
        "head -c 3000 /dev/zero | $S pv -f -g -p -L 3000 -i 0.2 -w 50 >/dev/null",
        &d,
    );
    assert_eq!(st, Some(0));
    let lines = drawn(&err);
    assert!(lines.len() >= 3, "{lines:?}");
    for l in &lines {
        let (bar, max) = l.split_once("] /").unwrap_or_else(|| panic!("{l:?}"));
        assert!(bar.starts_with('[') && bar.contains('='), "{l:?}");
        assert!(max.ends_with("B/s"), "{l:?}");
        assert_eq!(l.chars().count(), 50, "{l:?}");
    }
    let (_, err, _) = run(
        "head -c 300 /dev/zero | $S pv -f -g -p -s 300 -w 40 >/dev/null",
        &d,
    );
    assert!(
        drawn(&err).last().is_some_and(|l| l.ends_with("] 100%")),
        "{err:?}"
    );
}

/// pv 1.9's `-U FILE`: everything into FILE, then FILE to the output, byte-exact at the
/// boundary sizes; `-U -` uses a temporary file and leaves nothing behind; the second pass
/// draws its own line (100% of the stored size).
#[test]
fn store_and_forward() {
    let d = Dir::new();
    for n in SIZES {
        let c = data(n);
        d.file("in", &c);
        let (out, err, st) = run("cat in | $S pv -q -U stored | cat", &d);
        assert_eq!((sha(&out), err.as_str(), st), (sha(&c), "", Some(0)), "{n}");
        assert_eq!(
            sha(&std::fs::read(d.path().join("stored")).unwrap()),
            sha(&c)
        );
    }
    let (_, err, st) = run("$S pv -q -U no/such/dir/f in", &d);
    assert_eq!(
        (err.as_str(), st),
        ("pv: no/such/dir/f: No such file or directory\n", Some(2))
    );
    if !have_strace() {
        return;
    }
    let c = data(300_000);
    d.file("in", &c);
    let (out, err, st) = run(
        "mkdir t && cat in | TMPDIR=$PWD/t strace -f -o trace -e trace=openat,unlink \
         $S pv -f -b -p -w 40 -U - | cat",
        &d,
    );
    assert_eq!((sha(&out), st), (sha(&c), Some(0)));
    let lines = drawn(&err);
    assert!(
        lines.last().is_some_and(|l| l.ends_with("] 100%")),
        "{lines:?}"
    );
    assert!(
        listing(&d.path().join("t")).is_empty(),
        "the temporary file is removed"
    );
    let trace = std::fs::read_to_string(d.path().join("trace")).unwrap_or_default();
    let made = format!("unlink(\"{}/t/", d.path().display());
    assert!(trace.contains(&made), "made and removed in TMPDIR: {trace}");
}
