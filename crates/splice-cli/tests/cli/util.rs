//! Running `splice` and the system's tools side by side.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sha2::{Digest, Sha256};

pub const SIZES: [usize; 8] = [0, 1, 4095, 4096, 4097, 65535, 65536, 65537];

pub fn splice() -> &'static str {
    env!("CARGO_BIN_EXE_splice")
}

pub fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// Deterministic test bytes.
pub fn data(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x243f_6a88_85a3_08d3 ^ n as u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// A temp dir holding files by name.
pub struct Dir(pub tempfile::TempDir);

impl Dir {
    pub fn new() -> Dir {
        Dir(tempfile::tempdir().unwrap())
    }
    pub fn file(&self, name: &str, content: &[u8]) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    }
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// Runs `sh -c script` with `$S` set to the splice binary; stdout is a pipe to this process.
pub fn sh(script: &str, dir: &Path) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .env("S", splice())
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Whether `strace` can run here; prints why not when it cannot.
pub fn have_strace() -> bool {
    let ok = Command::new("strace")
        .args(["-o", "/dev/null", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip("strace is not available or cannot trace here");
    }
    ok
}

/// Whether `tool` runs here; prints why a test skips when it does not.
pub fn have(tool: &str, why: &str) -> bool {
    let ok = Command::new(tool)
        .arg(if tool == "tmux" { "-V" } else { "--version" })
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skip(format!("{tool} is not installed ({why})"));
    }
    ok
}

/// Each file in `dir` as `name sha256`, sorted: what a run left behind.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let b = std::fs::read(e.path()).unwrap_or_default();
            format!("{} {}", e.file_name().to_string_lossy(), sha(&b))
        })
        .collect();
    files.sort();
    files
}

/// Starts `splice ARGS` in `dir` with stdout into a new pipe of `cap` bytes (0: the kernel's
/// default) and stderr captured; returns the child and the pipe's read end.
pub fn spawn_into_pipe(
    args: &[&str],
    dir: &Path,
    cap: usize,
) -> (std::process::Child, std::os::fd::OwnedFd) {
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
    if cap > 0 {
        rustix::pipe::fcntl_setpipe_size(&w, cap).unwrap();
    }
    let child = Command::new(splice())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(w))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (child, r)
}

/// Waits for `child` and returns its status code and what it wrote to stderr.
pub fn finish(mut child: std::process::Child) -> (Option<i32>, String) {
    use std::io::Read;
    let st = child.wait().unwrap();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut err).unwrap();
    }
    (st.code(), err)
}

/// Says on the real stderr, past libtest's capture (which takes only the print macros), that
/// a test could not run here and why: `cargo test` shows it even when the test passes, and
/// `.ci/run` counts these lines.
pub fn skip(reason: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "skipped: {reason}");
}

/// Types `keys` (a command line) into bash in a `cols`×`rows` tmux terminal working in `d`,
/// waits up to 10 s for a screen line equal to `until`, stops the tmux server and returns
/// the screen as it was then.
pub fn tmux_screen(d: &Dir, cols: u32, rows: u32, keys: &str, until: &str) -> String {
    let sock = d.path().join("tmux.sock");
    let tm = |args: &str| sh(&format!("tmux -S {} {args}", sock.display()), d.path());
    tm(&format!(
        "new-session -d -x {cols} -y {rows} \"cd {}; bash --norc --noprofile\"",
        d.path().display()
    ));
    tm(&format!("send-keys '{keys}' Enter"));
    let mut screen = String::new();
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        screen = String::from_utf8_lossy(&tm("capture-pane -p").stdout).into_owned();
        if screen.lines().any(|l| l == until) {
            break;
        }
    }
    tm("kill-server");
    screen
}

/// (stdout, stderr, status) of `script` run in `d`.
pub fn run(script: &str, d: &Dir) -> (Vec<u8>, String, Option<i32>) {
    let o = sh(script, d.path());
    (
        o.stdout,
        String::from_utf8_lossy(&o.stderr).into_owned(),
        o.status.code(),
    )
}

/// The display lines a meter drew (split at `\r` and `\n`, blank ones left out).
pub fn drawn(err: &str) -> Vec<String> {
    err.split(['\r', '\n'])
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// The last display line a meter drew.
pub fn last_drawn(err: &str) -> String {
    drawn(err).pop().unwrap_or_default()
}
