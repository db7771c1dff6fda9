//! pv's options beyond the display basics, each against the system's pv 1.6.20 where it has
//! the option and gives the same answer, and against pv 1.9's documented behaviour otherwise
//! (written here as the expected result).

use crate::util::*;

fn have_pv() -> bool {
    have("pv", "compared against pv 1.6.20")
}

fn corpus(d: &Dir) {
    let lines: String = (1..=1000).map(|i| format!("{i}\n")).collect();
    d.file("l1000", lines.as_bytes());
    d.file("z300", &[0u8; 300]);
    d.file("big", &data((3 << 20) + 7));
}

/// (stdout hash, stderr's last line, status) of `script` with `$T` set to `t`.
fn outcome(t: &str, script: &str, d: &Dir) -> (String, String, Option<i32>) {
    let o = sh(&format!("T=\"{t}\"; {script}"), d.path());
    let err = String::from_utf8_lossy(&o.stderr);
    let last = err
        .split(['\r', '\n'])
        .rfind(|l| !l.is_empty())
        .unwrap_or("");
    (sha(&o.stdout), last.to_string(), o.status.code())
}

#[test]
fn options_pv_1_6_has_give_pv_1_6_results() {
    if !have_pv() {
        return;
    }
    let d = Dir::new();
    corpus(&d);
    for script in [
        "$T -q -S -s 100 big",
        "$T -q -S -s 1M big",
        "$T -q -l -S -s 10 l1000",
        "$T -f -l -b -n l1000",
        "printf 'a\\0b\\0c\\0' | $T -f -0 -n -b",
        "$T -f -n -b big",
        "$T -f -n big",
        "$T -f -D 5 z300",
        "$T -q -B 1M -H 3 big",
        "$T -q -a big",
        "$T -f -N nm -F 'x%%y %N|%t' z300",
        "$T -f -F 'just text' z300",
        "$T -q big /nonexistent z300",
    ] {
        let ours = outcome("$S pv", script, &d);
        let pv = outcome("pv", script, &d);
        assert_eq!(ours, pv, "{script}");
    }
}

#[test]
fn options_pv_1_6_lacks_follow_pv_1_9() {
    let d = Dir::new();
    corpus(&d);
    let cases: [(&str, &str, &str, i32); 5] = [
        // -8: bits (pv 1.9); -n -b then prints bits.
        ("$T -f -n -8 -b z300", "z300", "2400", 0),
        // -s smaller than the data: past 100% (pv 1.9; 1.6 printed -100).
        ("$T -f -n -s 100 z300", "z300", "300", 0),
        // -l without -s counts the files' lines first, so -n reaches 100.
        ("$T -f -l -n l1000", "l1000", "100", 0),
        // -Y: the output synced, the bytes unchanged.
        ("$T -q -Y big > out; cat out", "big", "", 0),
        // -S with no -s: the files' size, all of it.
        ("$T -q -S l1000", "l1000", "", 0),
    ];
    for (script, src, last, status) in cases {
        let (out, err, st) = outcome("$S pv", script, &d);
        assert_eq!(
            out,
            sha(&std::fs::read(d.path().join(src)).unwrap()),
            "{script}"
        );
        assert_eq!(err, last, "{script}");
        assert_eq!(st, Some(status), "{script}");
    }
}

/// `-F`: every sequence becomes its field, and `%p` takes the width the rest leaves.
#[test]
fn a_format_string_draws_the_line() {
    let d = Dir::new();
    corpus(&d);
    let (_, err, st) = outcome("$S pv", "$T -f -s 300 -w 50 -F '<%b|%p|%e>' z300", &d);
    assert_eq!(st, Some(0));
    // pv 1.9's layout: the amount in four columns and a two-column prefix, ` %3d%` after
    // the bar, the ETA blanked on the last line, the line the whole width.
    assert!(
        err.starts_with("< 300  B|[====") && err.ends_with("=>] 100%|           >"),
        "{err}"
    );
    assert_eq!(err.chars().count(), 50, "{err}");
}

#[test]
fn the_average_rate_and_the_pidfile() {
    let d = Dir::new();
    corpus(&d);
    // -r -a: the current rate in brackets, the average in parentheses (pv 1.9).
    let (_, err, _) = outcome("$S pv", "$T -f -r -a -i 0.1 -L 3000 z300", &d);
    assert_eq!(err.matches("B/s]").count(), 1, "{err}");
    assert_eq!(err.matches("B/s)").count(), 1, "{err}");
    // -P: the process ID in the file while running, the file gone after.
    let o = sh(
        "$S pv -q -P pid -L 500 z300 > /dev/null & sleep 0.3; cat pid; echo $!; wait; ls pid",
        d.path(),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    let mut it = out.lines();
    let (pid, bg) = (it.next().unwrap_or(""), it.next().unwrap_or("x"));
    assert_eq!(pid, bg, "{out}");
    assert!(!d.path().join("pid").exists());
}

/// `-K`: O_DIRECT inputs, byte-exact at the boundary sizes (a settled tail on a block
/// boundary, read into aligned memory), into a pipe and into a file.
#[test]
fn direct_io_inputs_are_byte_exact() {
    let d = Dir::new();
    for n in SIZES.into_iter().chain([(1 << 20) + 1, (3 << 20) + 7]) {
        let content = data(n);
        d.file("k", &content);
        let o = sh("$S pv -K -q k | cat", d.path());
        assert!(o.status.success(), "{n}: {o:?}");
        assert_eq!(sha(&o.stdout), sha(&content), "{n} into a pipe");
        let o = sh("$S pv -K -q k > out", d.path());
        assert!(o.status.success(), "{n}: {o:?}");
        let got = std::fs::read(d.path().join("out")).unwrap();
        assert_eq!(sha(&got), sha(&content), "{n} into a file");
    }
}

/// `-d PID:FD`: the display follows another process through its file, to 100%, and ends
/// when that process is done; an unknown PID is pv's error and status 2.
#[test]
fn watchfd_follows_another_process() {
    let d = Dir::new();
    d.file("w", &vec![0u8; 8 << 20]);
    // The reader says when its file is open (a busy machine may take a while to start it).
    let o = sh(
        "python3 -c 'import time
f=open(\"w\",\"rb\"); open(\"ready\",\"w\").close()
while f.read(1<<20): time.sleep(0.1)' & \
         while [ ! -e ready ]; do sleep 0.02; done; $S pv -d $! -f -n -i 0.1; echo pv=$?; wait",
        d.path(),
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "pv=0\n", "{o:?}");
    let nums: Vec<u64> = String::from_utf8_lossy(&o.stderr)
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(nums.last(), Some(&100), "{nums:?}");
    assert!(nums.windows(2).all(|w| w[0] <= w[1]), "{nums:?}");
    assert!(nums.len() >= 3, "the watch saw the progress: {nums:?}");
    assert!(nums.iter().any(|&n| n > 0 && n < 100), "{nums:?}");
    let o = sh("$S pv -d 2147483646 -f -n", d.path());
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "pv: pid 2147483646: No such process\n"
    );
}

/// `-T`: the output pipe's fill, full while the reader sleeps; `-m`: accepted, and the
/// average it draws is over the last seconds (here the whole run), near the -L rate.
#[test]
fn the_pipe_fill_and_the_average_window() {
    let d = Dir::new();
    corpus(&d);
    let o = sh(
        "$S pv -f -T -i 0.1 big 2>err | (sleep 1; cat > got); cat err",
        d.path(),
    );
    let shown = String::from_utf8_lossy(&o.stdout);
    assert!(shown.contains("{100%}"), "{shown}");
    let got = std::fs::read(d.path().join("got")).unwrap();
    assert_eq!(sha(&got), sha(&data((3 << 20) + 7)));
    let (_, err, st) = outcome("$S pv", "$T -f -a -m 1 -i 0.2 -L 2M big", &d);
    assert_eq!(st, Some(0));
    let rate: f64 = err
        .trim_matches(|c| c == '(' || c == ')')
        .trim_end_matches("MiB/s")
        .parse()
        .unwrap_or_else(|_| panic!("{err}"));
    assert!((1.2..=2.3).contains(&rate), "{err}");
}

/// Line mode copies through memory to count: every byte arrives, at the page and pipe
/// boundary sizes, with `\n` and with NUL records, into a pipe and a file.
#[test]
fn line_mode_is_byte_exact_at_the_boundary_sizes() {
    let d = Dir::new();
    for n in SIZES.into_iter().chain([(3 << 20) + 1]) {
        let content = data(n);
        d.file("in", &content);
        for mode in ["-l", "-0"] {
            let o = sh(&format!("$S pv -q {mode} in | cat"), d.path());
            assert!(o.status.success(), "{n} {mode}: {o:?}");
            assert_eq!(sha(&o.stdout), sha(&content), "{n} {mode} into a pipe");
            let o = sh(&format!("$S pv -q {mode} < in > out"), d.path());
            assert!(o.status.success(), "{n} {mode}: {o:?}");
            let got = std::fs::read(d.path().join("out")).unwrap();
            assert_eq!(sha(&got), sha(&content), "{n} {mode} into a file");
        }
    }
}
