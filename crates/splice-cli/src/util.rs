//! Small helpers shared by the subcommands.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use splicekit::CopyReport;

/// Whether standard descriptor `fd` was closed when the process started (`>&-`, `<&-`): it is
/// then held by a stand-in on which every I/O call fails with `EBADF`, as the closed
/// descriptor would for a C tool.
pub fn closed_at_start(fd: i32) -> bool {
    splicekit::sys::stdio_closed_at_start(fd) == Some(true)
}

/// What a tool has written to its stdout by copying since the last byte it shared from a
/// file, and the files whose shared pages may still sit unread in it.
///
/// A copy followed by more output (`CopyOptions::followed_by`) may end on shared pages, which
/// the later bytes push out; until they have, the file must not shrink under them. Such files
/// are watched, and checked when enough has been written after them — or at the end — for
/// the reader to have taken their pages.
#[derive(Debug, Default)]
pub struct Tail {
    copied: u64,
    watched: Vec<Watched>,
}

#[derive(Debug)]
struct Watched {
    name: String,
    file: std::fs::File,
    /// The file must still hold this many bytes.
    end: u64,
    /// Bytes written to stdout after its shared ones.
    after: u64,
}

impl Tail {
    /// After a copy by the engine.
    pub fn after(&mut self, r: &CopyReport) {
        for w in &mut self.watched {
            w.after += r.bytes;
        }
        if r.copied_tail == r.bytes {
            self.copied += r.bytes;
        } else {
            self.copied = r.copied_tail;
        }
    }

    /// After `n` bytes the tool wrote itself (copies).
    pub fn wrote(&mut self, n: u64) {
        for w in &mut self.watched {
            w.after += n;
        }
        self.copied += n;
    }

    /// Keeps an eye on `input` (named `name`), whose bytes up to offset `end` were shared and
    /// may still be in the pipe. A descriptor that cannot be duplicated is checked now.
    pub fn watch(&mut self, name: &str, input: BorrowedFd<'_>, end: u64) -> Result<(), String> {
        match input.try_clone_to_owned() {
            Ok(fd) => {
                self.watched.push(Watched {
                    name: name.to_string(),
                    file: fd.into(),
                    end,
                    after: 0,
                });
                Ok(())
            }
            Err(_) => check(name, input, end),
        }
    }

    /// Checks and forgets the watched files a pipe of `cap` bytes no longer holds pages of;
    /// returns the message for each that shrank below its shared bytes.
    pub fn consumed(&mut self, cap: u64) -> Vec<String> {
        let mut bad = Vec::new();
        self.watched.retain(|w| {
            if w.after < cap {
                return true;
            }
            bad.extend(check(&w.name, w.file.as_fd(), w.end).err());
            false
        });
        bad
    }

    /// Before exit status 0: if stdout is a pipe that may still hold bytes shared from a file
    /// (more queued than the copied tail), wait until the reader has taken them — with the
    /// engine's settled tails it returns at once; it is the net under them — then check every
    /// watched file. Returns the message for each that shrank below its shared bytes.
    pub fn settle(&mut self, out: BorrowedFd<'_>) -> Vec<String> {
        if splicekit::FdInfo::of(out).is_ok_and(|i| i.kind == splicekit::FdKind::Pipe) {
            let _ = splicekit::settle(out, self.copied);
        }
        self.consumed(0)
    }
}

/// `Err(message)` when the file behind `fd` holds fewer than `end` bytes.
fn check(name: &str, fd: BorrowedFd<'_>, end: u64) -> Result<(), String> {
    splicekit::check_holds(fd, end).map_err(|e| format!("{name}: {}", strerror(&e)))
}

/// Writes all of `data` to `fd`: `EINTR` retried, `EAGAIN` (a non-blocking descriptor) waited
/// out with `poll`. The user-space paths of cat's small files and pv's line mode share it.
pub fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> io::Result<()> {
    use splicekit::{sys, wait_ready, Ready};
    while !data.is_empty() {
        match sys::write(fd, data, None) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(k) => data = &data[k..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_ready(fd, Ready::Write)?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The kernel's message for an error, without Rust's " (os error N)" suffix, as C tools
/// print it (`No space left on device`).
pub fn strerror(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => {
            let s = io::Error::from_raw_os_error(n).to_string();
            match s.rfind(" (os error ") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
        None => e.to_string(),
    }
}

/// Why a size was refused: not a size at all, or larger than 2^64 − 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeError {
    /// Not a number with a known suffix (`0.5`, `1g`, `5 `, `-1`).
    Invalid,
    /// A size past what 64 bits hold (`1Y`, `18446744073709551616`).
    TooLarge,
}

/// Parses a size as GNU `head -c` does (gnulib `xstrtoumax` with the suffixes
/// `bkKmMGTPEZYRQ` and the optional `B`/`iB`/`D` after them): decimal digits, then `b` (512),
/// or `K`/`k`, `M`/`m`, `G`, `T`, `P`, `E`, `Z`, `Y`, `R`, `Q` — powers of 1024, or of 1000 when
/// followed by `B` or `D` (`1kB` = 1000, `1KiB` = 1024). Leading blanks and a `+` are taken, a
/// suffix alone means one unit (`K` = 1024); fractions, signs and trailing junk are refused.
pub fn parse_size(s: &str) -> Result<u64, SizeError> {
    let t = s.trim_start();
    let t = t.strip_prefix('+').unwrap_or(t);
    let digits = t.len() - t.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (num, suffix) = t.split_at(digits);
    let mut n: u64 = if num.is_empty() {
        if suffix.is_empty() {
            return Err(SizeError::Invalid);
        }
        1
    } else {
        // All digits: only overflow can fail.
        num.parse().map_err(|_| SizeError::TooLarge)?
    };
    let mut chars = suffix.chars();
    let Some(unit) = chars.next() else {
        return Ok(n);
    };
    let power = match unit {
        'b' => {
            return if chars.next().is_none() {
                mul(n, 512, 1)
            } else {
                Err(SizeError::Invalid)
            }
        }
        'k' | 'K' => 1,
        'm' | 'M' => 2,
        'G' => 3,
        'T' => 4,
        'P' => 5,
        'E' => 6,
        'Z' => 7,
        'Y' => 8,
        'R' => 9,
        'Q' => 10,
        _ => return Err(SizeError::Invalid),
    };
    let base = match chars.as_str() {
        "" | "iB" => 1024,
        "B" | "D" => 1000,
        _ => return Err(SizeError::Invalid),
    };
    for _ in 0..power {
        n = mul(n, base, 1)?;
    }
    Ok(n)
}

fn mul(n: u64, a: u64, b: u64) -> Result<u64, SizeError> {
    n.checked_mul(a)
        .and_then(|x| x.checked_mul(b))
        .ok_or(SizeError::TooLarge)
}

/// [`parse_size`] with GNU's message for a refused value, naming what it was for:
/// `invalid number of bytes: ‘0.5’`, `…: Value too large for defined data type`.
pub fn size_arg(what: &str, s: &str) -> Result<u64, String> {
    parse_size(s).map_err(|e| match e {
        SizeError::Invalid => format!("invalid {what}: ‘{s}’"),
        SizeError::TooLarge => {
            format!("invalid {what}: ‘{s}’: Value too large for defined data type")
        }
    })
}

/// Parses a size as pv does for `-s`, `-L` and `-B`: a number, possibly with a fraction, and
/// an optional binary suffix `K`, `M`, `G` or `T` (`1.5M`); a trailing `B`/`iB` is taken.
pub fn parse_pv_size(s: &str) -> Result<u64, String> {
    parse_pv_size_in(s, 1024)
}

/// [`parse_pv_size`] with suffixes in powers of `base`: 1000 after pv's `-k` (`--si`), which
/// changes the options that follow it.
pub fn parse_pv_size_in(s: &str, base: u64) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (num, mult) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], base),
        Some('M') => (&t[..t.len() - 1], base.pow(2)),
        Some('G') => (&t[..t.len() - 1], base.pow(3)),
        Some('T') => (&t[..t.len() - 1], base.pow(4)),
        _ => (t, 1),
    };
    let bad = || format!("invalid size '{s}'");
    if num.is_empty() {
        return Err(bad());
    }
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(mult).ok_or_else(bad);
    }
    match num.parse::<f64>() {
        Ok(f) if f.is_finite() && f >= 0.0 && f * (mult as f64) < u64::MAX as f64 => {
            Ok((f * mult as f64) as u64)
        }
        _ => Err(bad()),
    }
}

/// Writes `out` to stdout for the generated texts (`splice man`, `splice completions`): 0, or
/// 1 with a message on a write error; a reader that has gone (`| head`) is not an error.
pub fn print_all(out: &[u8]) -> u8 {
    use std::io::Write;
    match io::stdout().lock().write_all(out) {
        Ok(()) => 0,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("splice: write error: {}", strerror(&e));
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pv_sizes() {
        assert_eq!(parse_pv_size("4096"), Ok(4096));
        assert_eq!(parse_pv_size("64K"), Ok(65536));
        assert_eq!(parse_pv_size("1M"), Ok(1 << 20));
        assert_eq!(parse_pv_size("1g"), Ok(1 << 30));
        assert_eq!(parse_pv_size("10GiB"), Ok(10 << 30));
        assert_eq!(parse_pv_size("1.5M"), Ok(3 << 19));
        assert!(parse_pv_size("").is_err());
        assert!(parse_pv_size("K").is_err());
        assert!(parse_pv_size("12Q").is_err());
        assert!(parse_pv_size("-1").is_err());
        assert!(parse_pv_size("99999999999T").is_err());
    }

    /// Each suffix, against what GNU head -c 9.1 takes (checked by hand with `head -c V
    /// /dev/zero | wc -c`), and R/Q from newer GNU (both past 64 bits).
    #[test]
    fn gnu_sizes_for_every_suffix() {
        use SizeError::*;
        let k = 1024u64;
        let ok = [
            ("0", 0),
            ("1", 1),
            ("010", 10),
            (" 5", 5),
            ("+5", 5),
            ("K", k),
            ("1b", 512),
            ("1k", k),
            ("1K", k),
            ("1KiB", k),
            ("1kiB", k),
            ("1kB", 1000),
            ("1KB", 1000),
            ("1KD", 1000),
            ("1m", k * k),
            ("1M", k * k),
            ("1MB", 1_000_000),
            ("1MiB", k * k),
            ("1G", k * k * k),
            ("1GB", 1_000_000_000),
            ("2T", 2 * k.pow(4)),
            ("1P", k.pow(5)),
            ("1E", k.pow(6)),
            ("1EB", 1000u64.pow(6)),
            ("18446744073709551615", u64::MAX),
        ];
        for (s, want) in ok {
            assert_eq!(parse_size(s), Ok(want), "{s:?}");
        }
        let bad = [
            ("", Invalid),
            ("0.5", Invalid),
            ("1.5K", Invalid),
            ("5 ", Invalid),
            ("-1", Invalid),
            ("1g", Invalid),
            ("1B", Invalid),
            ("1c", Invalid),
            ("1w", Invalid),
            ("1KX", Invalid),
            ("1bB", Invalid),
            ("0x10", Invalid),
            ("18446744073709551616", TooLarge),
            ("1Z", TooLarge),
            ("1Y", TooLarge),
            ("1R", TooLarge),
            ("1Q", TooLarge),
            ("17E", TooLarge),
        ];
        for (s, want) in bad {
            assert_eq!(parse_size(s), Err(want), "{s:?}");
        }
        assert_eq!(
            size_arg("number of bytes", "0.5"),
            Err("invalid number of bytes: ‘0.5’".to_string())
        );
        assert_eq!(
            size_arg("number of bytes", "1Y"),
            Err("invalid number of bytes: ‘1Y’: Value too large for defined data type".into())
        );
    }

    #[test]
    fn strerror_drops_the_rust_suffix() {
        let e = io::Error::from_raw_os_error(28);
        assert_eq!(strerror(&e), "No space left on device");
    }
}
