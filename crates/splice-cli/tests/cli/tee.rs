//! `splice tee` against the system's GNU tee: outputs, stderr and exit status for every option
//! and failure, and byte-exact outputs at the boundary sizes and past 1 GiB.

use crate::util::*;

/// Runs `script` once with `T=tee` and once with `T="$S tee"` in fresh directories holding
/// `input`; returns (stdout, stderr, status, listing of the files with their hashes) for each.
fn both(script: &str, input: &[u8]) -> [(String, String, Option<i32>, String); 2] {
    ["tee", "$S tee"].map(|t| {
        let d = Dir::new();
        d.file("in", input);
        std::fs::write(d.path().join("old"), b"kept\n").unwrap();
        let full = format!("T=\"{t}\"; {script}");
        let o = sh(&full, d.path());
        let mut files: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .map(|e| {
                let b = std::fs::read(e.path()).unwrap_or_default();
                format!(
                    "{} {} {}",
                    e.file_name().to_string_lossy(),
                    b.len(),
                    sha(&b)
                )
            })
            .collect();
        files.sort();
        (
            sha(&o.stdout),
            String::from_utf8_lossy(&o.stderr).into_owned(),
            o.status.code(),
            files.join("\n"),
        )
    })
}

fn same(script: &str, input: &[u8]) {
    let [gnu, ours] = both(script, input);
    assert_eq!(ours.1, gnu.1, "stderr of: {script}");
    assert_eq!(ours.2, gnu.2, "status of: {script}");
    assert_eq!(ours.0, gnu.0, "stdout of: {script}");
    assert_eq!(ours.3, gnu.3, "files after: {script}");
}

/// As `same`, for runs that stop part-way: how much was written before the stop depends on
/// the chunk size (GNU tee reads 8 KiB at a time, splice tee up to a pipe's worth), so only
/// the messages and the status are compared.
fn same_stop(script: &str, input: &[u8]) {
    let [gnu, ours] = both(script, input);
    assert_eq!(ours.1, gnu.1, "stderr of: {script}");
    assert_eq!(ours.2, gnu.2, "status of: {script}");
}

const MODES: [&str; 8] = [
    "",
    "-p",
    "--output-error",
    "--output-error=warn",
    "--output-error=warn-nopipe",
    "--output-error=exit",
    "--output-error=exit-nopipe",
    "-i -a",
];

#[test]
fn outputs_match_gnu_tee_at_the_boundary_sizes() {
    for n in SIZES.into_iter().chain([(3 << 20) + 1]) {
        let input = data(n);
        same("$T a b < in", &input);
        same("cat in | $T a - b", &input);
        same("$T -a old < in | $T c", &input);
    }
}

#[test]
fn every_mode_matches_gnu_tee_on_failing_outputs() {
    let input = data(3 << 20);
    for m in MODES {
        // An unopenable file, a full device, a closed file descriptor for stdout.
        same(&format!("$T {m} a /nonexistent/x b < in"), &input);
        let stops = m.contains("=exit");
        for script in [
            format!("$T {m} a /dev/full b < in"),
            format!("$T {m} a < in > /dev/full"),
        ] {
            if stops {
                same_stop(&script, &input);
            } else {
                same(&script, &input);
            }
        }
        same(&format!("$T {m} a 'my file' < in > /dev/null"), &input);
        same(&format!("$T {m} < /"), &input);
    }
}

#[test]
fn every_mode_matches_gnu_tee_when_the_reader_leaves() {
    // 16 MiB, more than any pipe holds, so the early exit of `head` is always seen.
    let input = data(16 << 20);
    for m in MODES {
        for trap in ["", "trap '' PIPE;"] {
            // When the run stops part-way (killed by SIGPIPE, or =exit), the files hold what
            // was written before the stop, which depends on chunk sizes and timing; compare
            // the status and messages only.
            let exit_mode = m.contains("=exit") && !m.contains("nopipe");
            let killed = !(m.contains("-p") || m.contains("output-error")) && trap.is_empty();
            let script = format!(
                "{trap} $T {m} a b < in | head -c 1000 > /dev/null; echo status ${{PIPESTATUS[0]}} >&2"
            );
            let [gnu, ours] = both(&script, &input);
            assert_eq!(ours.1, gnu.1, "stderr of: {script}");
            assert_eq!(ours.2, gnu.2, "status of: {script}");
            if !exit_mode && !killed {
                assert_eq!(ours.3, gnu.3, "files after: {script}");
            }
        }
    }
}

#[test]
fn usage_errors_match_gnu_tee() {
    for args in [
        "-q",
        "--output-error=bogus",
        "--output-error=e",
        "--append=x",
        "--bogus",
    ] {
        same(&format!("$T {args} < in"), b"x");
    }
    let d = Dir::new();
    let o = sh("$S tee --help", d.path());
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("--output-error"));
}

#[test]
fn ignore_interrupts_survives_sigint() {
    let d = Dir::new();
    // A SIGINT in the middle of the stream: with -i tee copies everything and exits 0;
    // without it, it dies of the signal (130), as GNU tee does. (`set -m`: a background job
    // of a non-interactive shell would otherwise start with SIGINT ignored.)
    let run = |flags: &str| {
        let o = sh(
            &format!(
                "set -m; (printf abc; sleep 0.6; printf def) | $S tee {flags} out > copy & \
                 sleep 0.3; kill -INT $!; wait $!; echo $?; cat out copy"
            ),
            d.path(),
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert_eq!(run("-i"), "0\nabcdefabcdef");
    assert_eq!(run(""), "130\nabcabc");
}

#[test]
fn more_than_a_gigabyte_reaches_every_output() {
    let d = Dir::new();
    let o = sh(
        "$S gen -r 9 -c 1100M | sha256sum > want; \
         $S gen -r 9 -c 1100M | $S tee f1 >(sha256sum > p1) | sha256sum > p0; sleep 0.5; \
         sha256sum < f1 > h1; rm f1; cat want p0 p1 h1",
        d.path(),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines.iter().all(|l| *l == lines[0]), "{out}");
}

#[test]
fn interrupted_and_refused_calls_leave_every_output_intact() {
    if !have_strace() {
        return;
    }
    let d = Dir::new();
    let input = data((3 << 20) + 4097);
    d.file("in", &input);
    let want = sha(&input);
    // EINTR at any call is retried; a tee or splice refused with EINVAL (a kind without
    // them) before the first byte falls back to the copying path for that output, or, for
    // the tee into the shared copy, reads the round out of the input. (strace runs on splice
    // alone: a read or write injected into bash, cat or the dynamic loader would test them
    // instead; a process substitution output would keep strace's copy of its pipe open.)
    for inject in [
        "tee:error=EINTR:when=1+2",
        "splice:error=EINTR:when=2+3",
        "write:error=EINTR:when=1+4",
        "splice:error=EINVAL:when=1",
        "tee:error=EINVAL:when=1",
    ] {
        let trace = format!("strace -f -o /dev/null -e inject={inject} $S tee");
        for cmd in [
            format!("{trace} a b < in | cat > c"),
            format!("cat in | {trace} -a a b > c"),
            format!("cat f > b & cat in | {trace} a f | cat > c; wait"),
        ] {
            let o = sh(
                &format!("rm -f a b c f; mkfifo f; {cmd}; sha256sum a b c"),
                d.path(),
            );
            let out = String::from_utf8_lossy(&o.stdout);
            let hashes: Vec<&str> = out.lines().map(|l| l.split(' ').next().unwrap()).collect();
            assert_eq!(
                hashes,
                [want.as_str(); 3],
                "{cmd}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
}

/// GNU tee 9.3+ with `-p` or `--output-error` polls its outputs while the input is idle and
/// stops as soon as every output pipe's reader has gone (9.1, the system's, does not: the
/// expected results are written here from the newer GNU's behaviour). Non-pipe outputs keep
/// tee running until its input ends.
#[test]
fn with_p_tee_ends_as_soon_as_every_output_pipe_is_gone() {
    let d = Dir::new();
    let run = |args: &str| {
        let o = sh(
            &format!(
                "t0=$(date +%s%N); sleep 2.5 | {{ timeout 2 $S tee {args}; \
                 echo \"status $? $(( ($(date +%s%N) - t0) / 1000000 ))\" >&2; }} | :"
            ),
            d.path(),
        );
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        let last = err.lines().last().unwrap_or_default().to_string();
        let ms: u64 = last.rsplit(' ').next().unwrap().parse().unwrap();
        (err, ms)
    };
    for (args, want) in [
        ("-p", "status 0"),
        ("--output-error", "status 0"),
        ("--output-error=exit-nopipe", "status 0"),
        (
            "--output-error=warn",
            "tee: 'standard output': Broken pipe\nstatus 1",
        ),
        (
            "--output-error=exit",
            "tee: 'standard output': Broken pipe\nstatus 1",
        ),
    ] {
        let (err, ms) = run(args);
        assert!(err.starts_with(want), "{args}: {err}");
        assert!(ms < 1500, "{args}: tee ran {ms} ms with no output left");
    }
    // A file output keeps it going until the input ends (timeout's 2 s: status 124).
    let (err, ms) = run("-p out");
    assert!(err.starts_with("status 124"), "{err}");
    assert!(ms >= 1900, "{ms}");
    // Without -p the idle tee is not watching (SIGPIPE comes with the next write).
    let (err, _) = run("");
    assert!(err.starts_with("status 124"), "{err}");
}

/// A non-blocking pipe as stdout (a parent set O_NONBLOCK) behind a slow reader: every byte
/// arrives, no EAGAIN error, status 0 — newer GNU tee's behaviour (9.1, the system's, fails
/// with "Resource temporarily unavailable"; the expectation is written here).
#[test]
fn a_nonblocking_stdout_gets_every_byte() {
    let d = Dir::new();
    let input = data((20 << 20) + 3);
    d.file("in", &input);
    let o = sh(
        "python3 -c 'import os,fcntl,sys
fl=fcntl.fcntl(1,fcntl.F_GETFL); fcntl.fcntl(1,fcntl.F_SETFL,fl|os.O_NONBLOCK)
os.execvp(sys.argv[1],sys.argv[1:])' $S tee copy < in | (sleep 1; cat > got)",
        d.path(),
    );
    assert!(o.status.success(), "{o:?}");
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for f in ["got", "copy"] {
        let b = std::fs::read(d.path().join(f)).unwrap();
        assert_eq!(sha(&b), sha(&input), "{f}");
    }
}

/// Thirteen and more file operands, `-` among them as a file name, as GNU tee.
#[test]
fn many_operands_and_a_dash_match_gnu_tee() {
    same("$T a b c d e f g h i j k l m n - < in", &data(300_001));
    same("cat in | $T -a a b c d e f g h i j k l m - n", &data(65537));
}

/// One output pipe fed from a pipe: nothing to duplicate, so tee splices straight through,
/// one blocking splice per pipe's worth — no tee(2), no FIONREAD, no poll — byte-exact at
/// the boundary sizes.
#[test]
fn one_pipe_into_one_pipe_is_a_plain_splice_loop() {
    if !have_strace() {
        return;
    }
    let d = Dir::new();
    for n in SIZES.into_iter().chain([(3 << 20) + 1]) {
        let input = data(n);
        d.file("in", &input);
        let o = sh(
            "cat in | strace -f -o calls -e trace=splice,tee,ioctl,poll,ppoll $S tee | cat > out",
            d.path(),
        );
        assert!(o.status.success(), "{n}: {o:?}");
        let got = std::fs::read(d.path().join("out")).unwrap();
        assert_eq!(sha(&got), sha(&input), "{n}");
        // (Rust's runtime polls fds 0-2 once at start, events=0, to find closed ones.)
        let calls: String = std::fs::read_to_string(d.path().join("calls"))
            .unwrap()
            .lines()
            .filter(|l| !l.contains("{fd=0, events=0}, {fd=1, events=0}"))
            .map(|l| format!("{l}\n"))
            .collect();
        for c in ["tee(", "FIONREAD", "poll("] {
            assert!(!calls.contains(c), "{n}: {c} in\n{calls}");
        }
        assert!(calls.contains("splice(0, NULL, 1, NULL"), "{n}: {calls}");
    }
}
