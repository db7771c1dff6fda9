//! `splice gen`: the same bytes as `yes` (and as an independent SplitMix64 for `--random`),
//! exact counts for every mode, page size and kind of output, and `yes`'s errors.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};

use crate::util::*;

/// `n` bytes of `line` repeated.
fn repeated(line: &[u8], n: usize) -> Vec<u8> {
    line.iter().cycle().take(n).copied().collect()
}

/// The SplitMix64 stream `--random SEED` promises, written here independently of the binary.
fn splitmix(seed: u64, n: usize) -> Vec<u8> {
    let mut s = seed;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(n);
    out
}

fn stdout_of(script: &str) -> Vec<u8> {
    let d = Dir::new();
    let o = sh(script, d.path());
    assert!(
        o.status.success(),
        "{script}: {:?} {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

#[test]
fn a_gigabyte_of_gen_is_a_gigabyte_of_yes() {
    let ours = stdout_of("$S gen y | head -c 1G | sha256sum");
    let theirs = stdout_of("yes | head -c 1G | sha256sum");
    assert_eq!(
        String::from_utf8_lossy(&ours),
        String::from_utf8_lossy(&theirs)
    );
    assert!(
        ours.starts_with(b"d18e25082e4fcac8"),
        "the known hash of 1 GiB of y lines"
    );
}

#[test]
fn operands_make_the_same_line_as_yes() {
    let long = "x".repeat(5000);
    for args in [
        "",
        "a",
        "a b  c",
        "'' ''",
        "-- -z",
        long.as_str(),
        "'tab\there' é",
    ] {
        let ours = stdout_of(&format!("$S gen {args} | head -c 3000001 | sha256sum"));
        let theirs = stdout_of(&format!("yes {args} | head -c 3000001 | sha256sum"));
        assert_eq!(ours, theirs, "gen {args}");
    }
}

#[test]
fn bytes_are_exact_for_every_mode_page_size_and_sink() {
    let d = Dir::new();
    for mode in ["shared", "gift", "recycle", "write"] {
        for pages in ["4k", "2m"] {
            for n in SIZES.into_iter().chain([(3 << 20) + 1]) {
                let want = sha(&repeated(b"ab c\n", n));
                let cmd = format!("$S gen --mode {mode} --pages {pages} -c {n} 'ab c'");
                let piped = sh(&cmd, d.path());
                assert!(piped.status.success(), "{cmd}");
                assert_eq!(sha(&piped.stdout), want, "{cmd} into a pipe");
                let o = sh(&format!("{cmd} > out"), d.path());
                assert!(o.status.success(), "{cmd} > out");
                let file = std::fs::read(d.path().join("out")).unwrap();
                assert_eq!(sha(&file), want, "{cmd} into a file");
            }
        }
    }
}

#[test]
fn random_and_zero_streams_match_their_definitions() {
    let d = Dir::new();
    for n in [0, 1, 7, 4096, 65537, (3 << 20) + 3] {
        let want = sha(&splitmix(42, n));
        for mode in ["auto", "gift", "recycle", "write"] {
            let cmd = format!("$S gen --random 42 --mode {mode} --bytes {n}");
            let o = sh(&cmd, d.path());
            assert_eq!(sha(&o.stdout), want, "{cmd}");
            sh(&format!("{cmd} > r"), d.path());
            assert_eq!(
                sha(&std::fs::read(d.path().join("r")).unwrap()),
                want,
                "{cmd} > r"
            );
        }
        let z = sh(&format!("$S gen -z -c {n}"), d.path());
        assert_eq!(z.stdout, vec![0u8; n], "gen -z -c {n}");
    }
    let other = sh("$S gen -r 43 -c 64", d.path()).stdout;
    assert_ne!(other, splitmix(42, 64), "the seed matters");
}

/// Runs `gen` with its stdout on `out` and collects what the far end `far` receives.
fn gen_into(out: OwnedFd, mut far: impl Read + Send + 'static, args: &[&str]) -> Vec<u8> {
    let got = std::thread::spawn(move || {
        let mut v = Vec::new();
        far.read_to_end(&mut v).unwrap();
        v
    });
    let st = Command::new(splice())
        .arg("gen")
        .args(args)
        .stdout(Stdio::from(out))
        .status()
        .unwrap();
    assert!(st.success(), "{args:?}");
    got.join().unwrap()
}

#[test]
fn sockets_a_terminal_and_dev_null_take_the_engine_path() {
    let n = (5 << 20) + 3;
    let want = sha(&repeated(b"sock\n", n));
    let n_arg = n.to_string();
    let args = ["-c", n_arg.as_str(), "sock"];
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let b = l.accept().unwrap().0;
    assert_eq!(sha(&gen_into(a.into(), b, &args)), want, "TCP");
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    assert_eq!(sha(&gen_into(a.into(), b, &args)), want, "unix stream");
    let d = Dir::new();
    let o = sh("SPLICE_LOG=debug $S gen -c 5G > /dev/null", d.path());
    assert!(o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("splice"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A terminal: `script` runs gen on a pseudo-terminal, whose output turns \n into \r\n.
    let o = sh("script -qec '$S gen -c 100000 tty' /dev/null", d.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let shown: Vec<u8> = o.stdout.into_iter().filter(|&b| b != b'\r').collect();
    assert_eq!(shown, repeated(b"tty\n", 100000));
}

#[test]
fn write_errors_read_like_yes() {
    let d = Dir::new();
    // (A closed stdout cannot be tested the same way: Rust's runtime reopens a closed fd 1 on
    // /dev/null before `main`, so `gen >&-` writes into /dev/null.)
    let ours = sh("$S gen > /dev/full", d.path());
    let theirs = sh("yes > /dev/full", d.path());
    assert_eq!(ours.status.code(), Some(1));
    assert_eq!(ours.status.code(), theirs.status.code());
    let msg = String::from_utf8_lossy(&ours.stderr);
    assert_eq!(
        msg.trim_end(),
        "gen: standard output: No space left on device"
    );
    assert_eq!(
        String::from_utf8_lossy(&theirs.stderr).replacen("yes:", "gen:", 1),
        msg
    );
    // A reader that goes away: death by SIGPIPE (141), or with SIGPIPE ignored, EPIPE.
    let o = sh(
        "$S gen | head -c 1 >/dev/null; echo ${PIPESTATUS[0]}",
        d.path(),
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "141");
    let o = sh(
        "trap '' PIPE; $S gen 2>err | head -c 1 >/dev/null; echo ${PIPESTATUS[0]}; cat err",
        d.path(),
    );
    let y = sh(
        "trap '' PIPE; yes 2>err | head -c 1 >/dev/null; echo ${PIPESTATUS[0]}; cat err",
        d.path(),
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&y.stdout).replace("yes:", "gen:")
    );
}

#[test]
fn bad_options_are_refused() {
    let d = Dir::new();
    for (args, msg) in [
        ("-q", "gen: invalid option -- 'q'"),
        (
            "--mode fast",
            "gen: invalid mode 'fast': use auto, shared, gift, recycle or write",
        ),
        ("--random x", "gen: invalid seed 'x': expected a number"),
        (
            "-r 1 --mode shared",
            "gen: --mode shared needs repeated content, not --random",
        ),
        (
            "-z hello",
            "gen: a STRING cannot be combined with --zero or --random",
        ),
        ("-z -r 1", "gen: --zero and --random exclude each other"),
        ("--pages 1g", "gen: invalid page size '1g': use 4k or 2m"),
        ("-c 12X", "gen: invalid number of bytes: ‘12X’"),
    ] {
        let o = sh(&format!("$S gen {args}"), d.path());
        assert_eq!(o.status.code(), Some(1), "{args}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.starts_with(msg), "{args}: {err}");
        assert!(err.contains("Try 'gen --help'"), "{args}: {err}");
        assert!(o.stdout.is_empty());
    }
    let o = sh("$S gen --help", d.path());
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("--bytes"));
}

#[test]
fn into_a_pipe_the_bytes_are_vmspliced_and_gift_survives_eopnotsupp() {
    if !have_strace() {
        return;
    }
    let d = Dir::new();
    let n = (3 << 20) + 5;
    let want = sha(&repeated(b"y\n", n));
    for mode in ["shared", "gift", "recycle"] {
        let o = sh(
            &format!("strace -f -o trace -e trace=vmsplice,write $S gen --mode {mode} -c {n}"),
            d.path(),
        );
        assert_eq!(sha(&o.stdout), want, "{mode}");
        let trace = std::fs::read_to_string(d.path().join("trace")).unwrap();
        assert!(trace.contains("vmsplice(1,"), "{mode}: {trace}");
        assert!(!trace.contains("write(1,"), "{mode} wrote with write(2)");
    }
    // Kernels that retired SPLICE_F_GIFT answer EOPNOTSUPP (FACTS F13); EINTR can come any
    // time. Both leave the output intact.
    for inject in [
        "vmsplice:error=EOPNOTSUPP:when=1",
        "vmsplice:error=EINTR:when=2+3",
    ] {
        let o = sh(
            &format!(
                "strace -f -o trace -e trace=vmsplice -e inject={inject} $S gen --mode gift -c {n}"
            ),
            d.path(),
        );
        assert!(
            o.status.success(),
            "{inject}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(sha(&o.stdout), want, "{inject}");
        let trace = std::fs::read_to_string(d.path().join("trace")).unwrap();
        if inject.contains("EOPNOTSUPP") {
            let calls: Vec<&str> = trace.lines().filter(|l| l.contains("vmsplice(1")).collect();
            assert!(calls[0].contains("SPLICE_F_GIFT") && calls[0].contains("EOPNOTSUPP"));
            assert!(
                calls[1..].iter().all(|c| !c.contains("SPLICE_F_GIFT")),
                "{trace}"
            );
        }
    }
}
