//! What pv 1.9.x added: `--bar-style` and the styled bars, `%L`, `%{sgr}`, width prefixes,
//! the numeric format (`-n` with `-r`, `-F`), `-x`, `-O`, and `-d` watching every file of a
//! process, several targets, `=NAME` and `@FILE`. pv 1.6.20 lacks most of these, so the
//! expected output is written here from pv 1.9's manual and source; `-d PID`'s rows are also
//! checked against the system's pv where it is installed.

use crate::util::*;

#[test]
fn bar_styles_draw_pvs_cells_in_utf8_and_plain_elsewhere() {
    let d = Dir::new();
    d.file("f", &data(1000));
    let bar = |env: &str, opts: &str| {
        let (out, err, st) = run(&format!("{env} $S pv -f -w 20 {opts} f"), &d);
        assert_eq!(st, Some(0), "{err}");
        assert_eq!(sha(&out), sha(&data(1000)));
        last_drawn(&err)
    };
    // 100%: a full bar of the style's full cell (14 columns inside `[ ]` and ` 100%`).
    let full = "\u{2588}".repeat(13);
    assert_eq!(bar("LANG=C.UTF-8", "-p -u block"), format!("[{full}] 100%"));
    assert_eq!(
        bar("LANG=C.UTF-8", "-p -u shaded"),
        format!("[{full}] 100%")
    );
    assert_eq!(
        bar("LANG=C.UTF-8", "-F '%{bar-granular}'"),
        "\u{2588}".repeat(20)
    );
    // Outside a UTF-8 locale, and for a name pv does not know: plain.
    let plain = format!("[{}>] 100%", "=".repeat(12));
    assert_eq!(bar("LC_ALL=C", "-p -u block"), plain);
    assert_eq!(bar("LANG=C.UTF-8", "-p -u nosuch"), plain);
    // A width prefix fixes a bar's width; the rest of the line is left as it is.
    assert_eq!(
        bar("LANG=C.UTF-8", "-F '<%6{bar-block}>'"),
        format!("<{}>", "\u{2588}".repeat(6))
    );
    // Size unknown: the style's moving indicator.
    let (_, err, _) = run("head -c 10 f | LANG=C.UTF-8 $S pv -f -w 12 -u block -p", &d);
    assert!(last_drawn(&err).contains("\u{25c0}\u{25b6}"), "{err:?}");
}

/// `-s @FILE` (pv 1.8): the size of FILE; a file that cannot be stat'd is pv's message. `-k`
/// changes the sizes given after it.
#[test]
fn size_from_a_file() {
    let d = Dir::new();
    d.file("f", &data(4000));
    let (_, err, st) = run("head -c 1000 f | $S pv -n -s @f", &d);
    assert_eq!(st, Some(0));
    assert_eq!(err.lines().last(), Some("25"));
    // -k makes the sizes after it decimal (pv's --si): 500 of 1 kB is 50%, of 1 KiB 49%.
    let (_, err, _) = run("head -c 500 f | $S pv -n -k -s 1K", &d);
    assert_eq!(err.lines().last(), Some("50"));
    let (_, err, _) = run("head -c 500 f | $S pv -n -s 1K -k", &d);
    assert_eq!(err.lines().last(), Some("49"));
    let (_, err, st) = run("$S pv -s @nosuch f", &d);
    assert_eq!(st, Some(64));
    assert_eq!(
        err.lines().next(),
        Some("pv: failed to stat file nosuch: No such file or directory")
    );
}

#[test]
fn previous_line_shows_the_last_complete_line() {
    let d = Dir::new();
    let (out, err, st) = run(
        "printf 'one\\ntwo\\tx\\nthree\\nfour' | $S pv -f -w 30 -F '|%8L|%{previous-line}'",
        &d,
    );
    assert_eq!(st, Some(0));
    assert_eq!(out, b"one\ntwo\tx\nthree\nfour");
    // The last complete line (`four` has no newline yet), padded; the second %L takes the
    // width that is left.
    assert_eq!(
        err.split('\r').rfind(|l| l.contains('|')).unwrap(),
        format!("|three   |three{}", " ".repeat(15))
    );
    // Through splice-able paths the bytes still arrive whole (they go through memory for %L).
    for n in SIZES.into_iter().chain([300_001]) {
        let content = data(n);
        d.file("f", &content);
        let (out, _, st) = run("$S pv -q -F '%L' f | cat", &d);
        assert_eq!(st, Some(0));
        assert_eq!(sha(&out), sha(&content), "{n}");
    }
    // With -0 the lines end with NUL.
    let (_, err, _) = run("printf 'a\\0bb\\0c' | $S pv -0 -f -F '[%3L]'", &d);
    assert_eq!(last_drawn(&err), "[bb ]");
}

#[test]
fn sgr_colours_are_written_and_reset_where_colour_is_on() {
    let d = Dir::new();
    let (_, err, _) = run(
        "printf 12345 | TERM=xterm $S pv -f -F '%{sgr:red,bold}%b%{sgr:reset} %{sgr:bg-blue}x'",
        &d,
    );
    assert_eq!(last_drawn(&err), "\x1b[31;1m5.00  B\x1b[0m \x1b[44mx\x1b[m");
    // Numeric output on a pipe with TERM=dumb: no codes.
    let (_, err, _) = run("printf 12345 | TERM=dumb $S pv -n -F '%{sgr:red}%b'", &d);
    assert_eq!(err, "5\n");
}

#[test]
fn numeric_output_follows_pv_19s_format() {
    let d = Dir::new();
    d.file("f", &data(4000));
    // -n -t -b -r: seconds, the count, the rate, each bare.
    let (_, err, st) = run("$S pv -n -t -b -r f >/dev/null", &d);
    assert_eq!(st, Some(0));
    let last = err.lines().last().unwrap();
    let parts: Vec<&str> = last.split(' ').collect();
    assert_eq!(parts.len(), 3, "{last}");
    assert!(
        parts[0].split_once('.').is_some_and(|(_, f)| f.len() == 4),
        "{last}"
    );
    assert_eq!(parts[1], "4000");
    assert!(parts[2].parse::<f64>().is_ok(), "{last}");
    // -F with -n: the format with bare numbers (pv 1.9.31), for JSON say.
    let (_, err, _) = run(
        "$S pv -n -F '{\"pct\":%{progress-amount-only},\"bytes\":%b}' f >/dev/null",
        &d,
    );
    assert_eq!(err.lines().last(), Some("{\"pct\":100,\"bytes\":4000}"));
    // -8: bits.
    let (_, err, _) = run("$S pv -n -8 f >/dev/null", &d);
    assert_eq!(err.lines().last(), Some("32000"));
}

#[test]
fn extra_display_sets_the_window_and_process_titles() {
    let d = Dir::new();
    let (_, err, st) = run("printf 12345 | $S pv -f -x 'window:%b!' -F '%t'", &d);
    assert_eq!(st, Some(0));
    assert!(err.contains("\x1b]2;5.00  B!\x1b\\"), "{err:?}");
    // The process title: what `ps` shows (/proc/PID/cmdline) while it runs.
    let (out, err, _) = run(
        "head -c 3000 /dev/zero | $S pv -f -L 1000 -x 'proc:pv-title %b' > /dev/null 2>&1 & \
         sleep 1.5; tr '\\0' ' ' < /proc/$!/cmdline; echo; wait",
        &d,
    );
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("pv-title "), "{out:?} {err}");
    assert!(out.contains("B"), "{out:?}");
    let (_, err, st) = run("$S pv -x screen /dev/null", &d);
    assert_eq!(st, Some(64));
    assert!(err.contains("screen: unknown extra display type"), "{err}");
}

#[test]
fn sparse_output_leaves_holes_and_keeps_every_byte() {
    let d = Dir::new();
    let mut content = vec![0u8; 1 << 20];
    content.extend(data(5000));
    content.extend(vec![0u8; 3 << 20]);
    d.file("f", &content);
    let (_, err, st) = run("$S pv -q -O f > out; stat -c '%s %b %B' out", &d);
    assert_eq!(st, Some(0), "{err}");
    let out = std::fs::read(d.path().join("out")).unwrap();
    assert_eq!(sha(&out), sha(&content));
    let o = sh("stat -c '%b %B' out", d.path());
    let s = String::from_utf8_lossy(&o.stdout);
    let v: Vec<u64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();
    assert!(
        v[0] * v[1] < 1 << 20,
        "allocated {} bytes of 4 MiB",
        v[0] * v[1]
    );
    // Into a pipe nothing changes.
    let (out, _, _) = run("$S pv -q -O f | cat", &d);
    assert_eq!(sha(&out), sha(&content));
    // Appending: the zeros still count (the file's end moves past them).
    let (_, err, st) = run("printf head > app; $S pv -q -O f >> app", &d);
    assert_eq!(st, Some(0), "{err}");
    let got = std::fs::read(d.path().join("app")).unwrap();
    assert_eq!(sha(&got), sha(&[b"head".as_slice(), &content].concat()));
    // Over a file that already holds bytes (`1<>`, no truncation): where zeros land on old
    // bytes they are written, so the file holds the input, then the old tail.
    d.file("old", &vec![0xffu8; 6 << 20]);
    let (_, err, st) = run("$S pv -q -O f 1<> old", &d);
    assert_eq!(st, Some(0), "{err}");
    let got = std::fs::read(d.path().join("old")).unwrap();
    assert_eq!(got.len(), 6 << 20);
    assert_eq!(sha(&got[..content.len()]), sha(&content));
    assert!(got[content.len()..].iter().all(|&b| b == 0xff));
    // Every boundary size, zero blocks and data blocks alternating (4 KiB each), into a new
    // file and appended after 4 bytes: byte for byte.
    for n in SIZES.into_iter().chain([300_001, (1 << 20) + 4097]) {
        let mut content = data(n);
        for (i, b) in content.iter_mut().enumerate() {
            if (i / 4096) % 2 == 0 {
                *b = 0;
            }
        }
        d.file("z", &content);
        let (_, err, st) = run(
            "$S pv -q -O z > new; printf head > app; $S pv -q -O z >> app",
            &d,
        );
        assert_eq!(st, Some(0), "{n}: {err}");
        let new = std::fs::read(d.path().join("new")).unwrap();
        assert_eq!(sha(&new), sha(&content), "{n} into a new file");
        let app = std::fs::read(d.path().join("app")).unwrap();
        assert_eq!(
            sha(&app),
            sha(&[b"head".as_slice(), &content].concat()),
            "{n} appended"
        );
    }
}

/// A process that opens `a` and `b` for reading and `out` for writing, reads and writes in
/// steps for about `secs`, and marks `ready` once they are open.
const READER: &str = "python3 -c 'import time,sys
a=open(\"a\",\"rb\"); b=open(\"b\",\"rb\"); w=open(\"out\",\"wb\"); open(\"ready\",\"w\").close()
for i in range(int(sys.argv[1])):
    w.write(a.read(65536)); b.read(30000); time.sleep(0.1)'";

#[test]
fn watching_a_pid_shows_a_line_per_open_file() {
    let d = Dir::new();
    d.file("a", &data(2 << 20));
    d.file("b", &data(1 << 20));
    let script = |pv: &str| {
        format!(
            "{READER} 20 </dev/null >/dev/null 2>&1 & \
             while [ ! -e ready ]; do sleep 0.02; done; rm ready; \
             {pv} -f -w 100 -i 0.3 -d $! </dev/null >/dev/null; echo status=$?; wait"
        )
    };
    let (out, err, _) = run(&script("$S pv"), &d);
    assert_eq!(String::from_utf8_lossy(&out), "status=0\n", "{err}");
    // Every frame: the rows, then back up over them; the last frame stays, ending in `\n`.
    assert!(err.contains("\r\x1b[A\x1b[A"), "{err:?}");
    assert!(err.ends_with('\n'), "{err:?}");
    let rows: Vec<&str> = err
        .split(['\r', '\n'])
        .map(|r| r.trim_start_matches("\x1b[A"))
        .collect();
    let named = |n: &str| {
        rows.iter()
            .filter(|r| r.contains(n))
            .copied()
            .collect::<Vec<_>>()
    };
    // Files read: a size, a percentage and an ETA; the file written: neither, the indicator.
    assert!(named(":a:").iter().any(|r| r.contains("% ETA")), "{rows:?}");
    assert!(named(":b:").iter().any(|r| r.contains("% ETA")), "{rows:?}");
    assert!(!named(":out:").is_empty(), "{rows:?}");
    assert!(
        named(":out:")
            .iter()
            .all(|r| !r.contains('%') && !r.contains("ETA") && r.contains("<=>")),
        "{rows:?}"
    );
    // The same rows (descriptor and file) as pv 1.6.20 shows, where it is installed (1.9
    // names a file under the current directory by its relative path, 1.6.20 in full).
    if have("pv", "the system pv to compare -d PID's rows with") {
        let (_, perr, _) = run(&script("pv"), &d);
        let names = |e: &str| {
            let mut v: Vec<String> = e
                .split(['\r', '\n'])
                .filter_map(|r| r.trim_start_matches("\x1b[A").split_once(": "))
                .filter_map(|(name, _)| {
                    let (fd, path) = name.trim_start_matches("\x1b[A").split_once(':')?;
                    Some(format!("{}:{}", fd.trim(), path.rsplit('/').next()?))
                })
                .collect();
            v.sort();
            v.dedup();
            v
        };
        assert_eq!(names(&err), names(&perr), "{err:?}\n{perr:?}");
    }
}

#[test]
fn several_targets_names_and_lists() {
    let d = Dir::new();
    d.file("a", &data(2 << 20));
    d.file("b", &data(1 << 20));
    // A copy of `sleep` under a name of its own holds `a` open for `=NAME`.
    let (out, err, _) = run(
        &format!(
            "cp \"$(command -v sleep)\" ./pvwatchme; ./pvwatchme 1.5 3<a & \
             {READER} 12 </dev/null >/dev/null 2>&1 & \
             while [ ! -e ready ]; do sleep 0.02; done; echo $!:3 > list; \
             $S pv -f -w 100 -i 0.3 -d =pvwatchme @list </dev/null; echo status=$?; wait"
        ),
        &d,
    );
    assert_eq!(String::from_utf8_lossy(&out), "status=0\n", "{err}");
    assert!(err.contains("   3:a:"), "the sleeping copy's file: {err:?}");
    assert!(err.contains("\r\n"), "two rows: {err:?}");
    // Bad targets and modes pv refuses with -d.
    for (args, msg) in [
        ("-d 0", "pv: -d: invalid process ID"),
        ("-d =", "pv: -d =: missing process name"),
        ("-d x", "pv: -d: process ID or pid:fd pair expected"),
        (
            "-d 1 -l",
            "pv: cannot use line mode or transfer modifier options when watching file descriptors",
        ),
        (
            "-d 1 -c",
            "pv: cannot use cursor positioning when watching file descriptors",
        ),
    ] {
        let (_, err, st) = run(&format!("$S pv {args}"), &d);
        assert_eq!(st, Some(64), "{args}: {err}");
        assert_eq!(err.lines().next(), Some(msg), "{args}");
    }
}

/// `-d PID` on a terminal (tmux): the rows are redrawn in place — each file's row once on the
/// screen, not a new copy per redraw — and the shell's next output comes right below them.
#[test]
fn watching_a_pid_redraws_its_rows_in_place_on_a_terminal() {
    if !have("tmux", "a terminal screen") {
        return;
    }
    let d = Dir::new();
    d.file("a", &data(2 << 20));
    d.file("b", &data(1 << 20));
    std::fs::write(d.path().join("reader.sh"), format!("exec {READER} 15\n")).unwrap();
    let screen = tmux_screen(
        &d,
        100,
        20,
        "set +m; clear; bash reader.sh & while [ ! -e ready ]; do sleep 0.05; done; \
         $S pv -i 0.2 -d $!; echo after",
        "after",
    );
    let rows: Vec<&str> = screen.lines().collect();
    let after = rows
        .iter()
        .position(|l| *l == "after")
        .unwrap_or_else(|| panic!("{screen}"));
    for name in [":a:", ":b:", ":out:"] {
        let n = rows.iter().filter(|r| r.contains(name)).count();
        assert_eq!(n, 1, "{name} once on the screen:\n{screen}");
    }
    // The rows are the lines right above "after".
    let out_row = rows.iter().position(|r| r.contains(":out:")).unwrap();
    assert!(out_row < after && after - out_row <= 3, "{screen}");
    assert!(rows[after - 1].contains(':'), "{screen}");
}

/// `-R PID -u STYLE`: a running `splice pv` changes its bar style (and `-x` its titles).
#[test]
fn remote_changes_the_bar_style() {
    let d = Dir::new();
    d.file("f", &data(300_000));
    let (_, err, st) = run(
        "LANG=C.UTF-8 $S pv -f -p -w 30 -i 0.1 -L 200K f >/dev/null 2>err & p=$!; sleep 0.4; \
         $S pv -R $p -u block -x window; wait $p; cat err >&2",
        &d,
    );
    assert_eq!(st, Some(0), "{err}");
    let rows: Vec<&str> = err.split('\r').filter(|r| r.contains('%')).collect();
    assert!(rows.first().is_some_and(|r| r.contains('>')), "{rows:?}");
    assert!(
        rows.last()
            .is_some_and(|r| r.contains('\u{2588}') && !r.contains('=')),
        "{rows:?}"
    );
    assert!(
        err.contains("\x1b]2;"),
        "the window title after -R -x: {err:?}"
    );
}

/// An ambiguous abbreviation lists its possibilities in the order of pv 1.9's option table, as
/// getopt_long does; names for one option (`--sparse`, `--sparse-output`) are no ambiguity.
/// The lists are pv 1.9's (its table, read from its source); where pv 1.6.20 has every option
/// the prefix matches, the line is also the system pv's.
#[test]
fn ambiguous_abbreviations_list_pv_19s_order() {
    let d = Dir::new();
    let ours = |arg: &str| {
        let o = sh(&format!("$S pv {arg} < /dev/null"), d.path());
        (
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .next()
                .unwrap_or("")
                .to_string(),
            o.status.code(),
        )
    };
    let expect = |arg: &str, list: &str| {
        let (line, status) = ours(arg);
        assert_eq!(
            line,
            format!("pv: option '{arg}' is ambiguous; possibilities: {list}")
        );
        assert_ne!(status, Some(0), "{arg}");
    };
    expect(
        "--s",
        "'--si' '--size' '--stats' '--skip-errors' '--stop-at-size' '--sync' '--sparse' \
         '--sparse-output' '--store-and-forward'",
    );
    expect(
        "--b",
        "'--bytes' '--bits' '--buffer-percent' '--bar-style' '--buffer-size'",
    );
    expect("--n", "'--numeric' '--null' '--name' '--no-splice'");
    expect("--l", "'--last-written' '--line-mode'");
    expect("--w", "'--wait' '--width' '--watchfd'");
    expect("--st", "'--stats' '--stop-at-size' '--store-and-forward'");
    // One option under two names: taken, not refused.
    let o = sh("printf abc | $S pv -q --spars", d.path());
    assert_eq!(
        (o.stdout.as_slice(), o.status.code()),
        (&b"abc"[..], Some(0))
    );
    if !have(
        "pv",
        "the system pv is the reference for the options it has",
    ) {
        return;
    }
    for arg in ["--r", "--n", "--l", "--w"] {
        let o = sh(&format!("pv {arg} < /dev/null"), d.path());
        let theirs = String::from_utf8_lossy(&o.stderr)
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        assert_eq!(ours(arg).0, theirs, "{arg}");
    }
}
