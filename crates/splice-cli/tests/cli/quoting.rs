//! File names in messages are quoted exactly as GNU cat and tee quote them: no raw control
//! character from a name reaches stderr.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};

use crate::util::*;

const NAMES: &[&[u8]] = &[
    b"",
    b"plain",
    b"a b",
    b"a:b",
    b"~x",
    b"#x",
    b"it's",
    b"say \"hi\"",
    b"it's \"q\"",
    b"a$b",
    b"a=b",
    b"a{b",
    b"tab\there",
    b"nl\nx",
    b"\x7f",
    b"bad\x1b[31mname",
    b"\x1b]0;title\x07",
    b"caf\xc3\xa9",
    b"\xff\xfe",
];

fn stderr_of(prog: &str, args: &[&str], name: &[u8], locale: &str) -> (Vec<u8>, Option<i32>) {
    let d = Dir::new();
    let o = Command::new(prog)
        .args(args)
        .arg(OsStr::from_bytes(name))
        .current_dir(d.path())
        .env("LC_ALL", locale)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .unwrap();
    (o.stderr, o.status.code())
}

#[test]
fn missing_files_are_named_as_gnu_cat_and_tee_name_them() {
    for locale in ["C.UTF-8", "C"] {
        for &name in NAMES {
            let gnu = stderr_of("cat", &[], name, locale);
            let ours = stderr_of(splice(), &["cat"], name, locale);
            assert_eq!(
                String::from_utf8_lossy(&ours.0),
                String::from_utf8_lossy(&gnu.0),
                "cat {name:?} in {locale}"
            );
            assert_eq!(ours.1, gnu.1);
            assert!(!ours.0.contains(&0x1b), "a raw ESC reached stderr");
        }
        for &name in NAMES {
            // A directory that does not exist makes the name unopenable for tee too.
            let mut path = b"no/such/".to_vec();
            path.extend_from_slice(name);
            let gnu = stderr_of("tee", &[], &path, locale);
            let ours = stderr_of(splice(), &["tee"], &path, locale);
            assert_eq!(
                String::from_utf8_lossy(&ours.0),
                String::from_utf8_lossy(&gnu.0),
                "tee {name:?} in {locale}"
            );
            assert_eq!(ours.1, gnu.1);
        }
    }
}

/// Every subcommand answers `--help` and `--version` (pv also `-h` and `-V`) on stdout with
/// status 0 and nothing on stderr.
#[test]
fn every_subcommand_has_help_and_version() {
    let d = Dir::new();
    let mut runs: Vec<String> = Vec::new();
    for c in ["cat", "tee", "pv", "gen", "relay", "bench"] {
        runs.push(format!("{c} --help"));
        runs.push(format!("{c} --version"));
    }
    runs.extend(["pv -h".to_string(), "pv -V".to_string()]);
    for r in runs {
        let o = sh(&format!("$S {r}"), d.path());
        assert_eq!(o.status.code(), Some(0), "{r}: {o:?}");
        assert!(o.stderr.is_empty(), "{r}: {o:?}");
        let out = String::from_utf8_lossy(&o.stdout);
        if r.ends_with("version") || r.ends_with("-V") {
            assert!(out.contains("0.1.0"), "{r}: {out}");
        } else {
            assert!(out.to_lowercase().contains("usage"), "{r}: {out}");
        }
    }
}
