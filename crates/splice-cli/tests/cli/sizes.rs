//! Sizes on the command line mean what GNU says: `splice gen -c V` writes as many bytes as
//! `yes | head -c V`, and refuses what head refuses, naming the option.

use crate::util::*;

#[test]
fn gen_counts_bytes_as_gnu_head_does() {
    let d = Dir::new();
    for v in [
        "0", "1", "010", "+5", "K", "1b", "1k", "1K", "1KiB", "1kB", "1KB", "1KD", "3m", "1MB",
        "1MiB", "2M",
    ] {
        let ours = sh(&format!("$S gen -c '{v}' | wc -c"), d.path());
        let gnu = sh(&format!("yes | head -c '{v}' | wc -c"), d.path());
        assert_eq!(ours.stdout, gnu.stdout, "-c {v}");
        assert!(ours.status.success(), "-c {v}");
    }
}

#[test]
fn gen_refuses_what_gnu_head_refuses() {
    let d = Dir::new();
    for v in [
        "0.5",
        "1.5K",
        "1g",
        "1B",
        "5 ",
        "x",
        "1Y",
        "18446744073709551616",
    ] {
        let ours = sh(&format!("$S gen -c '{v}' | wc -c"), d.path());
        let gnu = sh(&format!("head -c '{v}' /dev/null"), d.path());
        let first = |b: &[u8]| String::from_utf8_lossy(b).lines().next().map(str::to_owned);
        let want = first(&gnu.stderr).map(|l| l.replacen("head:", "gen:", 1));
        assert_eq!(first(&ours.stderr), want, "-c {v}");
        assert_eq!(String::from_utf8_lossy(&ours.stdout).trim(), "0", "-c {v}");
        let st = sh(&format!("$S gen -c '{v}' >/dev/null; echo $?"), d.path());
        assert_eq!(String::from_utf8_lossy(&st.stdout), "1\n", "-c {v}");
    }
}
