//! Closed standard descriptors: each tool behaves as its GNU counterpart does when started
//! with fd 0, 1 or 2 closed (`>&-`, `<&-`), instead of reading or writing Rust's stand-in
//! `/dev/null`.

use std::time::{Duration, Instant};

use crate::util::*;

/// Runs `script` with `$T` set to the GNU tool and to ours, in fresh directories that hold a
/// file `f`; returns (stderr, status, files) for each, with our tool's name in messages
/// replaced by GNU's.
fn run_both(gnu: &str, ours: &str, script: &str) -> [(String, Option<i32>, String); 2] {
    [gnu, ours].map(|t| {
        let d = Dir::new();
        d.file("f", b"some bytes\n");
        let o = sh(&format!("T=\"{t}\"; {script}"), d.path());
        (
            String::from_utf8_lossy(&o.stderr).into_owned(),
            o.status.code(),
            listing(d.path()).join("\n"),
        )
    })
}

fn same(gnu: &str, ours: &str, script: &str) {
    let [g, mut o] = run_both(gnu, ours, script);
    if gnu == "yes" {
        o.0 = o.0.replace("gen: ", "yes: ");
    }
    assert_eq!(o, g, "{ours} against {gnu}: {script}");
}

#[test]
fn cat_with_a_closed_descriptor_acts_as_gnu_cat() {
    for script in [
        "$T f >&-",
        "$T <&-",
        "$T - <&-",
        "$T f - f <&-",
        "$T f <&-",
        "$T f 2>&- >&-",
        "$T -n f >&-",
        "$T -n <&-",
        "$T f 2>&-",
    ] {
        same("cat", "$S cat", script);
    }
}

#[test]
fn tee_with_a_closed_descriptor_acts_as_gnu_tee() {
    for script in [
        "$T t >&- <f",
        "$T <&-",
        "$T t <&-",
        "$T -p t >&- <f",
        "$T t 2>&- >&- <f",
    ] {
        same("tee", "$S tee", script);
    }
}

#[test]
fn gen_into_a_closed_stdout_fails_at_once_like_yes() {
    let t0 = Instant::now();
    same("yes", "$S gen", "timeout 10 $T >&-");
    same("yes", "$S gen", "timeout 10 $T abc >&-");
    assert!(t0.elapsed() < Duration::from_secs(8), "gen did not stop");
}

#[test]
fn pv_into_a_closed_stdout_reports_a_write_failure() {
    let d = Dir::new();
    d.file("f", b"some bytes\n");
    let o = sh("$S pv -q f >&-", d.path());
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "pv: write failed: Bad file descriptor\n"
    );
    assert_eq!(o.status.code(), Some(16));
    // A closed stdin is pv's `-`: a read failure.
    let o = sh("$S pv -q <&-", d.path());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("pv: ") && err.ends_with(": read failed: Bad file descriptor\n"),
        "{err}"
    );
    assert_eq!(o.status.code(), Some(16));
}
