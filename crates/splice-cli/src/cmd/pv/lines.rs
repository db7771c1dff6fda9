//! The options whose work needs the bytes themselves — `-l`/`-0` count records, `-A` shows
//! the last bytes written, `-E` skips past read errors — move them through a buffer with
//! read/write: a copy, which `--help` says.

use std::io;
use std::os::fd::BorrowedFd;

use rustix::fs::{seek, SeekFrom};
use splicekit::{sys, wait_ready, Error, FdKind, Op, Ready, Side};

use crate::util::strerror;

/// How a copy through memory counts and what it does on a read error.
#[derive(Debug, Clone, Copy)]
pub struct Memory<'a> {
    /// `-l` (`\n`) or `-0` (NUL): count records instead of bytes.
    pub sep: Option<u8>,
    /// `-E` given this many times: 0 stops at a read error, 1 skips past it with a message
    /// per skip, 2 with one warning per file.
    pub skip_errors: u8,
    /// `-Z BYTES`: skip in blocks of this size instead of pv's growing steps (0: growing).
    pub skip_block: u64,
    /// The input's name for messages (quoted).
    pub name: &'a str,
    /// `-O`: into a regular file, blocks of zeros become holes (seeks) instead of writes.
    pub sparse: bool,
}

const BUF: usize = 128 << 10;

/// `-O` into a regular file: where the output is being extended, runs of 4 KiB blocks of
/// zeros become holes (the file's size set past them) instead of writes. Zeros that would
/// land on bytes the file already holds are written, so the file ends up holding exactly the
/// input; with `O_APPEND` each run extends the file's end.
struct Holes {
    /// Where the next byte goes, and the file's size.
    pos: u64,
    size: u64,
    append: bool,
}

impl Holes {
    /// The hole state for `out`: `None` unless it is a regular file.
    fn of(out: BorrowedFd<'_>) -> Option<Holes> {
        let info = splicekit::FdInfo::of(out).ok()?;
        if info.kind != FdKind::File {
            return None;
        }
        let pos = if info.append {
            info.size
        } else {
            seek(out, SeekFrom::Current(0)).ok()?
        };
        Some(Holes {
            pos,
            size: info.size,
            append: info.append,
        })
    }
}

/// Writes `data` to `out`, through `holes` when set.
fn put(out: BorrowedFd<'_>, data: &[u8], holes: &mut Option<Holes>) -> io::Result<()> {
    let Some(h) = holes else {
        return crate::util::write_all(out, data);
    };
    let block = |b: &[u8]| b.len().min(4096);
    let zero = |b: &[u8]| b[..block(b)].iter().all(|&x| x == 0);
    let mut rest = data;
    while !rest.is_empty() {
        // The run of blocks of one kind (zeros or not) at the front of `rest`.
        let first = zero(rest);
        let mut n = 0;
        while n < rest.len() && zero(&rest[n..]) == first {
            n += block(&rest[n..]);
        }
        let end = h.pos + n as u64;
        if first && h.pos >= h.size {
            rustix::fs::ftruncate(out, end)?;
            if !h.append {
                seek(out, SeekFrom::Start(end))?;
            }
        } else {
            crate::util::write_all(out, &rest[..n])?;
        }
        h.pos = end;
        h.size = h.size.max(end);
        rest = &rest[n..];
    }
    Ok(())
}

/// Moves `input` to `out` by read/write, telling `tick` the records (`sep`) or bytes each
/// write completed and `seen` the bytes written; with `limit`, stops after that many records
/// or bytes (pv's `-S`). `Ok(true)` when read errors were skipped (pv then exits with 16).
pub fn copy_through(
    input: BorrowedFd<'_>,
    out: BorrowedFd<'_>,
    how: Memory<'_>,
    limit: Option<u64>,
    tick: &mut dyn FnMut(u64),
    seen: &mut dyn FnMut(&[u8]),
) -> Result<bool, Error> {
    let mut holes = if how.sparse { Holes::of(out) } else { None };
    let mut buf = vec![0u8; BUF];
    let (mut counted, mut moved) = (0u64, 0u64);
    let kind = |fd| FdKind::of(fd).unwrap_or(FdKind::Other);
    let (ik, ok) = (kind(input), kind(out));
    let err = |op, side, moved, e| Error::new(op, ik, ok, side, moved, e);
    let (mut in_a_row, mut warned, mut skipped) = (0u32, false, false);
    loop {
        let want = match (how.sep, limit) {
            (None, Some(l)) => (l - counted).min(BUF as u64) as usize,
            _ => BUF,
        };
        if want == 0 {
            return Ok(skipped);
        }
        let read = loop {
            match sys::read(input, &mut buf[..want], None) {
                Ok(n) => break Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    wait_ready(input, Ready::Read)
                        .map_err(|e| err(Op::Poll, Side::Input, moved, e))?
                }
                Err(e) => break Err(e),
            }
        };
        let n = match read {
            Ok(0) => return Ok(skipped),
            Ok(n) => {
                in_a_row = 0;
                n
            }
            Err(e) if how.skip_errors == 0 => return Err(err(Op::Read, Side::Input, moved, e)),
            Err(e) => {
                in_a_row += 1;
                skipped = true;
                if !warned {
                    eprintln!(
                        "pv: {}: warning: read errors detected: {}",
                        how.name,
                        strerror(&e)
                    );
                    warned = true;
                }
                match skip(input, in_a_row, how.skip_block, want as u64) {
                    Ok(Some((from, to))) => {
                        if how.skip_errors < 2 {
                            eprintln!(
                                "pv: {}: skipped past read error: {from} - {to} ({} B)",
                                how.name,
                                to - from
                            );
                        }
                        let n = (to - from) as usize;
                        buf[..n].fill(0);
                        n
                    }
                    Ok(None) => return Ok(true),
                    Err((what, e)) => {
                        eprintln!("pv: {}: {what}: {}", how.name, strerror(&e));
                        return Ok(true);
                    }
                }
            }
        };
        let mut end = n;
        let mut found = 0u64;
        if let Some(sep) = how.sep {
            for (i, &b) in buf[..n].iter().enumerate() {
                if b == sep {
                    found += 1;
                    if limit.is_some_and(|l| counted + found >= l) {
                        end = i + 1;
                        break;
                    }
                }
            }
        } else {
            found = n as u64;
        }
        put(out, &buf[..end], &mut holes).map_err(|e| err(Op::Write, Side::Output, moved, e))?;
        moved += end as u64;
        counted += found;
        seen(&buf[..end]);
        tick(found);
        if limit.is_some_and(|l| counted >= l) {
            return Ok(skipped);
        }
    }
}

/// Seeks past a read error as pv does: `block` bytes (`-Z`), or else 1 byte for the first
/// errors in a row, then 2, then doubling up to 512; each skip ends on a multiple of its size,
/// at most `room` bytes. `Ok(None)`: the input ended (a seek past its end refused, EINVAL).
fn skip(
    input: BorrowedFd<'_>,
    in_a_row: u32,
    block: u64,
    room: u64,
) -> Result<Option<(u64, u64)>, (&'static str, io::Error)> {
    let from = seek(input, SeekFrom::Current(0))
        .map_err(|e| ("file is not seekable", io::Error::from(e)))?;
    let mut amount: u64 = match in_a_row {
        _ if block > 0 => block,
        0..=4 => 1,
        5..=9 => 2,
        10..=19 => 1 << (in_a_row - 10),
        _ => 512,
    };
    if amount > 1 {
        let next = from + amount - (from + amount) % amount;
        if next > from {
            amount = next - from;
        }
    }
    let amount = amount.min(room).max(1);
    let to = seek(input, SeekFrom::Start(from + amount))
        .or_else(|_| seek(input, SeekFrom::Start(from + 1)));
    match to {
        Ok(to) => Ok(Some((from, to))),
        Err(e) if e == rustix::io::Errno::INVAL => Ok(None),
        Err(e) => Err(("failed to seek past error", e.into())),
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
