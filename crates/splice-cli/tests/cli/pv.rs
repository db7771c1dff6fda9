//! `splice pv`: byte-exact output for files, pipes and several inputs; the rate limit; numeric
//! output; the display on a real terminal (tmux); pv's errors.

use std::time::Instant;

use crate::util::*;

#[test]
fn output_is_byte_exact_for_files_pipes_and_several_inputs() {
    let d = Dir::new();
    for n in SIZES.into_iter().chain([(3 << 20) + 1]) {
        let a = data(n);
        let b = data(n + 7);
        d.file("a", &a);
        d.file("b", &b);
        let both = [a.as_slice(), b.as_slice()].concat();
        for (script, want) in [
            ("$S pv -q a", &a),
            ("cat a | $S pv -q", &a),
            ("$S pv -q a b", &both),
            ("cat b | $S pv -q a - ", &both),
            // The display on stderr never reaches stdout.
            ("$S pv -f a b 2>/dev/null", &both),
            (
                "$S pv -f -C a b 2>&1 >/dev/null | cat > /dev/null; $S pv -q -C a b",
                &both,
            ),
        ] {
            let (out, err, st) = run(script, &d);
            assert_eq!(st, Some(0), "{script}: {err}");
            assert_eq!(sha(&out), sha(want), "{script} at {n}");
        }
    }
}

#[test]
fn more_than_a_gigabyte_passes_unchanged() {
    let d = Dir::new();
    let (out, err, _) = run(
        "$S gen -r 5 -c 1100M | sha256sum; $S gen -r 5 -c 1100M | $S pv -f -i 0.2 2>err | sha256sum; tail -c 200 err",
        &d,
    );
    let out = String::from_utf8_lossy(&out);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], lines[1], "{err}");
    assert!(out.contains("1.07GiB"), "final total shown: {out}");
}

#[test]
fn the_rate_limit_holds_within_five_percent() {
    let d = Dir::new();
    // 6 MiB at 2 MiB/s: 3 seconds. Faster would break the limit; slower is noise (within a
    // generous bound, for a shared machine).
    let t = Instant::now();
    let (out, err, st) = run("$S gen -c 6M | $S pv -q -L 2M | wc -c", &d);
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(st, Some(0), "{err}");
    assert_eq!(String::from_utf8_lossy(&out).trim(), "6291456");
    let rate = 6.0 / secs;
    assert!(rate <= 2.0 * 1.05, "{rate:.3} MiB/s over {secs:.2} s");
    assert!(rate >= 2.0 * 0.85, "{rate:.3} MiB/s over {secs:.2} s");
}

#[test]
fn numeric_output_is_one_rising_percentage_per_line() {
    let d = Dir::new();
    d.file("f", &data(4 << 20));
    let (_, err, st) = run("$S pv -n -i 0.1 -L 8M f > /dev/null", &d);
    assert_eq!(st, Some(0));
    let v: Vec<u64> = err.lines().map(|l| l.trim().parse().expect(l)).collect();
    assert!(v.len() >= 3, "{err}");
    assert!(v.windows(2).all(|w| w[0] <= w[1]), "{err}");
    assert_eq!(v.last(), Some(&100));
    // With -b the numbers are byte counts, ending at the total.
    let (_, err, _) = run("$S pv -n -b -i 0.1 -L 8M f > /dev/null", &d);
    assert_eq!(err.lines().last(), Some("4194304"));
}

#[test]
fn errors_read_like_pv() {
    let d = Dir::new();
    d.file("a", b"abc");
    let (out, err, st) = run("$S pv -q /nonexistent a", &d);
    assert_eq!(out, b"abc");
    assert_eq!(err, "pv: /nonexistent: No such file or directory\n");
    assert_eq!(st, Some(2));
    // A bad command line is status 64 (pv 1.6.20 and 1.9).
    let (_, err, st) = run("$S pv -j", &d);
    assert!(err.starts_with("pv: invalid option -- 'j'"), "{err}");
    assert_eq!(st, Some(64));
    if have("pv", "compared against pv 1.6.20") {
        assert_eq!(run("pv -j", &d).2, Some(64));
        assert_eq!(run("pv -L abc", &d).2, Some(64));
    }
    assert_eq!(run("$S pv -L abc", &d).2, Some(64));
    // An input that is the output file is skipped with status 4, the others copied; a
    // pidfile that cannot be written is status 1.
    d.file("b", b"xyz");
    let (_, err, st) = run("$S pv -q a b >> b", &d);
    assert_eq!(
        (err.as_str(), st),
        ("pv: input file is output file: b\n", Some(4))
    );
    assert_eq!(std::fs::read(d.path().join("b")).unwrap(), b"xyzabc");
    if have("pv", "compared against pv 1.6.20") {
        d.file("b", b"xyz");
        let (_, pv_err, pv_st) = run("pv -q a b >> b", &d);
        assert_eq!((pv_err.as_str(), pv_st), (err.as_str(), st));
    }
    assert_eq!(run("$S pv -q -P no/such/pid a", &d).2, Some(1));
    let (_, err, _) = run("$S pv -q a > /dev/full", &d);
    assert_eq!(err, "pv: write failed: No space left on device\n");
}

#[test]
fn a_terminal_shows_bar_rate_and_final_total() {
    let d = Dir::new();
    d.file("f", &data(24 << 20));
    if !have("tmux", "a terminal screen") {
        return;
    }
    let tm = tmux(&d);
    tm(&format!(
        "new-session -d -x 100 -y 6 \"cd {}; $S pv -s 24M -L 8M f > /dev/null; echo done; sleep 30\"",
        d.path().display()
    ));
    std::thread::sleep(std::time::Duration::from_millis(1600));
    let mid = String::from_utf8_lossy(&tm("capture-pane -p").stdout).into_owned();
    // The transfer takes 3 s at the limit; wait for it (longer on a loaded machine).
    let mut end = String::new();
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        end = String::from_utf8_lossy(&tm("capture-pane -p").stdout).into_owned();
        if end.contains("done") {
            break;
        }
    }
    tm("kill-server");
    let line = mid
        .lines()
        .find(|l| l.contains("MiB/s]"))
        .unwrap_or_else(|| panic!("{mid}"));
    // The rate shown is over the last interval: near the 8 MiB/s limit, give or take the
    // scheduling of a busy machine.
    let rate: f64 = line
        .split('[')
        .nth(1)
        .and_then(|r| {
            r.strip_suffix("MiB/s] ")
                .or_else(|| r.split("MiB/s]").next())
        })
        .and_then(|r| r.trim().parse().ok())
        .unwrap_or_else(|| panic!("no rate in {line}"));
    assert!((6.0..=9.0).contains(&rate), "{line}");
    assert!(
        line.contains(" 0:00:01 ") || line.contains(" 0:00:02 "),
        "{line}"
    );
    assert!(
        line.contains("=>") && line.contains("% ETA 0:00:0"),
        "{line}"
    );
    assert!(line.len() <= 100, "fits the 100-column terminal: {line}");
    let last = end
        .lines()
        .find(|l| l.contains("24.0MiB"))
        .unwrap_or_else(|| panic!("{end}"));
    assert!(last.contains("100%") && last.contains("MiB/s]"), "{last}");
    assert!(end.contains("done"));
    // One line, redrawn in place: the pane holds a single display line.
    assert_eq!(
        end.lines().filter(|l| l.contains("MiB/s]")).count(),
        1,
        "{end}"
    );
}

#[test]
fn progress_flags_draw_the_bar_and_leave_stdout_alone() {
    let d = Dir::new();
    let content = data((5 << 20) + 3);
    d.file("f", &content);
    let y = sha(&b"y\n".repeat(3 << 20));
    for (script, want, total) in [
        ("$S cat --progress f", sha(&content), "5.00MiB"),
        (
            "$S cat -n --progress f > /dev/null; $S cat f",
            sha(&content),
            "5.00MiB",
        ),
        ("$S tee --progress copy < f", sha(&content), "5.00MiB"),
        ("$S gen --progress -c 6M", y.clone(), "6.00MiB"),
    ] {
        let (out, err, st) = run(script, &d);
        assert_eq!(st, Some(0), "{script}: {err}");
        assert_eq!(sha(&out), want, "{script}");
        let line = last_drawn(&err);
        assert!(
            line.starts_with(total) && line.contains("100%"),
            "{script}: {line}"
        );
    }
    assert_eq!(
        sha(&std::fs::read(d.path().join("copy")).unwrap()),
        sha(&content)
    );
    let (_, err, st) = run(
        "$S bench --case tee-1-pipe --size 8M --runs 1 --progress",
        &d,
    );
    assert_eq!(st, Some(0), "{err}");
    let line = last_drawn(&err);
    assert!(
        line.starts_with("24.0MiB") && line.contains("100%"),
        "{line}"
    );
}

#[test]
fn interrupted_calls_and_refused_splices_leave_the_output_intact() {
    if !have_strace() {
        return;
    }
    let d = Dir::new();
    let input = data((3 << 20) + 4097);
    d.file("in", &input);
    // strace runs on splice alone (an injected read in cat or the loader would test them).
    for inject in [
        "splice:error=EINTR:when=1+2",
        "splice:error=EINVAL",
        "sendfile:error=ENOSYS",
        "write:error=EINTR:when=1+2",
    ] {
        let trace = format!("strace -f -o /dev/null -e inject={inject} $S pv -q");
        for cmd in [
            format!("{trace} in | cat"),
            format!("cat in | {trace} | cat"),
            format!("{trace} -C in | cat"),
            format!("{trace} in > out; cat out"),
        ] {
            let o = sh(&cmd, d.path());
            assert_eq!(sha(&o.stdout), sha(&input), "{cmd}");
        }
    }
}

/// The redrawn lines of `splice pv ARGS` (stderr split at `\r` and `\n`).
fn lines_of(script: &str) -> Vec<String> {
    let d = Dir::new();
    let o = sh(script, d.path());
    assert!(o.status.success(), "{script}: {o:?}");
    String::from_utf8_lossy(&o.stderr)
        .split(['\r', '\n'])
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// Under a low -L the bytes move in small steps, so each redraw shows new values (pv 1.9):
/// 100 bytes at 25 B/s redrawn every 0.1 s give several ETAs, bars, rates and byte counts.
#[test]
fn a_low_rate_limit_moves_the_display_smoothly() {
    let distinct = |lines: &[String], f: &dyn Fn(&str) -> Option<String>| {
        let mut v: Vec<String> = lines.iter().filter_map(|l| f(l)).collect();
        v.dedup();
        v.len()
    };
    let eta = lines_of("head -c 100 /dev/zero | $S pv -f -e -s 100 -i 0.1 -L 25 >/dev/null");
    let n = distinct(&eta, &|l| l.split("ETA").nth(1).map(str::to_owned));
    assert!(n >= 3, "ETA values: {eta:?}");
    let bar = lines_of("head -c 1000 /dev/zero | $S pv -f -p -s 1000 -i 0.1 -L 500 >/dev/null");
    let n = distinct(&bar, &|l| l.split(']').next().map(str::to_owned));
    assert!(n >= 3, "bars: {bar:?}");
    let bytes = lines_of("head -c 100 /dev/zero | $S pv -f -b -i 0.1 -L 50 >/dev/null");
    assert!(
        distinct(&bytes, &|l| Some(l.trim().to_string())) >= 3,
        "{bytes:?}"
    );
}

/// `-w` sets the line's width; the line never runs past it (pv fills it to the last column),
/// and a width too small for the bar leaves the bar out instead of wrapping.
#[test]
fn the_width_option_bounds_every_line() {
    for w in [20usize, 40, 60, 100] {
        let lines = lines_of(&format!(
            "head -c 3000 /dev/zero | $S pv -f -w {w} -s 3000 -i 0.1 -L 6000 >/dev/null"
        ));
        assert!(!lines.is_empty());
        for l in &lines {
            assert!(l.chars().count() <= w, "-w {w}: {l:?}");
        }
    }
}

/// One ^D on a terminal ends the input (a short read from the engine is its end).
#[test]
fn one_eof_on_a_terminal_ends_the_input() {
    if !have("tmux", "a terminal screen") {
        return;
    }
    let d = Dir::new();
    let tm = tmux(&d);
    tm(&format!(
        "new-session -d -x 80 -y 5 \"cd {}; $S pv -q > out; echo status $? > st; sleep 30\"",
        d.path().display()
    ));
    std::thread::sleep(std::time::Duration::from_millis(500));
    tm("send-keys 'hello' Enter");
    std::thread::sleep(std::time::Duration::from_millis(300));
    tm("send-keys C-d");
    let st = d.path().join("st");
    for _ in 0..50 {
        if st.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    tm("kill-server");
    assert_eq!(
        std::fs::read_to_string(&st).unwrap_or_default(),
        "status 0\n",
        "pv did not end at the first ^D"
    );
    assert_eq!(std::fs::read(d.path().join("out")).unwrap(), b"hello\n");
}

/// Runs tmux commands on a server private to `d` (its socket lives in `d`).
fn tmux(d: &Dir) -> impl Fn(&str) -> std::process::Output + '_ {
    let sock = d.path().join("tmux.sock");
    move |args: &str| sh(&format!("tmux -S {} {args}", sock.display()), d.path())
}
