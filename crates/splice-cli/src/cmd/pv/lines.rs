//! pv's `-l` and `-0`: the counts are lines (or NUL-terminated records), so the bytes pass
//! through memory to be counted — a copy, which `--help` says.

use std::io;
use std::os::fd::BorrowedFd;

use splicekit::{sys, wait_ready, Error, FdKind, Op, Ready, Side};

/// Moves `input` to `out` by read/write, telling `tick` how many `sep`-terminated records
/// each write completed; with `limit`, stops after that many records (pv's `-S`).
pub fn copy_lines(
    input: BorrowedFd<'_>,
    out: BorrowedFd<'_>,
    sep: u8,
    limit: Option<u64>,
    tick: &mut dyn FnMut(u64),
) -> Result<(), Error> {
    let mut buf = vec![0u8; 128 << 10];
    let (mut lines, mut moved) = (0u64, 0u64);
    let kind = |fd| FdKind::of(fd).unwrap_or(FdKind::Other);
    let (ik, ok) = (kind(input), kind(out));
    let err = |op, side, moved, e| Error::new(op, ik, ok, side, moved, e);
    loop {
        let n = loop {
            match sys::read(input, &mut buf, None) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    wait_ready(input, Ready::Read)
                        .map_err(|e| err(Op::Poll, Side::Input, moved, e))?
                }
                Err(e) => return Err(err(Op::Read, Side::Input, moved, e)),
            }
        };
        if n == 0 {
            return Ok(());
        }
        let mut end = n;
        let mut found = 0u64;
        for (i, &b) in buf[..n].iter().enumerate() {
            if b == sep {
                found += 1;
                if limit.is_some_and(|l| lines + found >= l) {
                    end = i + 1;
                    break;
                }
            }
        }
        crate::util::write_all(out, &buf[..end])
            .map_err(|e| err(Op::Write, Side::Output, moved, e))?;
        moved += end as u64;
        lines += found;
        tick(found);
        if limit.is_some_and(|l| lines >= l) {
            return Ok(());
        }
    }
}

/// The records in `operands` when every one is a regular file (read once through), as pv
/// 1.9 counts them for `-l` without `-s`; `None` when one is not a file or cannot be read.
pub fn total_lines(operands: &[std::ffi::OsString], sep: u8) -> Option<u64> {
    use std::io::Read;
    let mut total = 0;
    let mut buf = vec![0u8; 128 << 10];
    for op in operands {
        if op == "-" {
            return None;
        }
        let mut f = std::fs::File::open(op).ok()?;
        if !f.metadata().ok()?.is_file() {
            return None;
        }
        loop {
            let n = f.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            total += buf[..n].iter().filter(|&&b| b == sep).count() as u64;
        }
    }
    Some(total)
}
