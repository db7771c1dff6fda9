//! The `splice` binary itself: `--version`, `help CMD`, `--list`, `--install DIR` and the
//! links it makes (busybox and uutils conventions), `yes` as gen's drop-in name.

use crate::util::*;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn version_help_and_list() {
    let d = Dir::new();
    let o = sh("$S --version; $S -V", d.path());
    let v = format!("splice {}\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(text(&o.stdout), format!("{v}{v}"));
    assert!(o.status.success());
    // `splice help CMD` is `splice CMD --help`, on stdout, status 0.
    for cmd in ["cat", "tee", "pv", "gen", "relay", "bench"] {
        let a = sh(&format!("$S help {cmd}"), d.path());
        let b = sh(&format!("$S {cmd} --help"), d.path());
        assert_eq!(
            (text(&a.stdout), a.status.code()),
            (text(&b.stdout), Some(0)),
            "{cmd}"
        );
        assert!(!a.stdout.is_empty(), "{cmd}");
    }
    let o = sh("$S --list", d.path());
    assert_eq!(text(&o.stdout), "cat\ntee\npv\nyes\nrelay\ngen\nbench\n");
    let o = sh("$S nosuch", d.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).starts_with("splice: unknown command 'nosuch'"));
}

#[test]
fn install_makes_links_that_act_as_their_tools() {
    let d = Dir::new();
    let o = sh("mkdir bin && $S --install bin && ls bin", d.path());
    assert!(o.status.success(), "{o:?}");
    assert_eq!(text(&o.stdout), "bench\ncat\ngen\npv\nrelay\ntee\nyes\n");
    d.file("f", &data(70_000));
    let o = sh(
        "bin/yes | head -3; bin/yes ab cd | head -1; bin/cat f | sha256sum | cut -c1-64; \
         bin/tee < f | bin/pv -q | cmp - f && echo same",
        d.path(),
    );
    let want = format!("y\ny\ny\nab cd\n{}\nsame\n", sha(&data(70_000)));
    assert_eq!(text(&o.stdout), want, "{}", text(&o.stderr));
    // yes speaks as yes, as GNU yes does.
    let o = sh("bin/yes > /dev/full; bin/yes --bogus", d.path());
    assert_eq!(
        text(&o.stderr),
        "yes: standard output: No space left on device\n\
         yes: unrecognized option '--bogus'\nTry 'yes --help' for more information.\n"
    );
    // Names already there are left alone and reported.
    let o = sh("$S --install bin", d.path());
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(text(&o.stderr).lines().count(), 7, "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("bin/cat: File exists"));
    let o = sh("$S --install", d.path());
    assert_eq!(o.status.code(), Some(2));
}

/// `splice man [CMD]`: a manual page per tool, rendered by the system's man (groff) when it
/// is installed; every option of the tool's option table is in it.
#[test]
fn man_pages_list_every_option() {
    let d = Dir::new();
    for tool in ["cat", "tee", "pv", "yes", "gen", "relay", "bench", "splice"] {
        let o = sh(&format!("$S man {tool}"), d.path());
        assert!(o.status.success(), "{tool}: {o:?}");
        let page = text(&o.stdout);
        assert!(page.contains(&format!(".TH {tool} 1")), "{tool}: {page}");
        assert!(
            page.contains(".SH NAME") && page.contains(".SH SYNOPSIS"),
            "{tool}"
        );
    }
    let page = text(&sh("$S man cat", d.path()).stdout);
    for opt in [
        "show\\-all",
        "number\\-nonblank",
        "squeeze\\-blank",
        "show\\-nonprinting",
    ] {
        assert!(page.contains(opt), "{opt}: {page}");
    }
    assert!(page.contains("number all output lines"), "{page}");
    let page = text(&sh("$S man tee", d.path()).stdout);
    assert!(page.contains("output\\-error\\fR[=\\fI<MODE>"), "{page}");
    if have("man", "the system's man to render splice man's page") {
        let o = sh(
            "$S man cat > cat.1 && MANWIDTH=80 man -l cat.1 | cat",
            d.path(),
        );
        let shown = text(&o.stdout);
        assert!(o.status.success(), "{o:?}");
        assert!(shown.contains("-n, --number"), "{shown}");
    }
    let o = sh("$S man nosuch", d.path());
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(text(&o.stderr), "splice: man: no manual for 'nosuch'\n");
}

/// `splice completions SHELL`: a bash script that bash accepts and that completes the tools
/// and their options; zsh and fish scripts; a shell it does not know is an error.
#[test]
fn completions_load_in_bash() {
    let d = Dir::new();
    let o = sh(
        "bash -c 'source <($S completions bash) && complete -p splice && \
         COMP_WORDS=(splice pv --bar); COMP_CWORD=2; _splice splice --bar pv; \
         printf \"%s\\n\" \"${COMPREPLY[@]}\"'",
        d.path(),
    );
    let out = text(&o.stdout);
    assert!(o.status.success(), "{o:?}");
    assert!(out.contains("-F _splice splice"), "{out}");
    assert!(out.contains("--bar-style"), "{out}");
    for sh_name in ["zsh", "fish"] {
        let o = sh(&format!("$S completions {sh_name}"), d.path());
        assert!(
            o.status.success() && o.stdout.len() > 1000,
            "{sh_name}: {o:?}"
        );
    }
    let o = sh("$S completions tcsh", d.path());
    assert_eq!(o.status.code(), Some(2));
}
