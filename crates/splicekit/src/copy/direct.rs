//! The single-call strategies: `copy_file_range`, `sendfile` and a direct `splice`, each
//! called in a loop until the source ends or the length is reached.

use std::io;

use super::calls::Calls;
use super::{is_again, is_intr, Step, Strategy, Xfer};
use crate::error::Side;
use crate::kind::FdKind;
use crate::sys::{self, SpliceFlags, MAX_RW_COUNT};

/// Runs `strategy` (one of the single-call ones) until done, refused or failed.
pub(super) fn run(x: &mut Xfer<'_>, strategy: Strategy) -> Step {
    let chunk = match strategy {
        Strategy::Splice => x.opts.chunk.unwrap_or(x.opts.pipe_size),
        _ => MAX_RW_COUNT,
    };
    let op = super::op_of(strategy);
    let backend = match strategy {
        Strategy::Splice => x.opts.backend,
        _ => super::Backend::Blocking,
    };
    let mut calls = Calls::new(backend);
    loop {
        let want = x.want(chunk);
        if want == 0 {
            return Step::Done;
        }
        x.syscalls += 1;
        match call(x, &mut calls, strategy, want) {
            Ok(0) if x.moved == 0 && strategy == Strategy::CopyFileRange => {
                // Linux <= 5.18 returned 0 for non-empty /proc and /sys files and some overlay
                // mounts (kernel-facts F8): a 0 on the first call is confirmed by the next strategy.
                let why = io::Error::other("copy_file_range returned 0 first");
                return Step::Fallback(why);
            }
            Ok(0) => return Step::Done,
            Ok(n) => x.delivered(n),
            Err(e) if is_intr(&e) => continue,
            Err(e) if is_again(&e) => {
                if let Err(e) = x.wait_either() {
                    return Step::Failed(e);
                }
            }
            // Before the first byte any errno means "this pair is not served this way"
            // (EINVAL: no splice support or O_APPEND; EXDEV: other superblock; ENOSYS/EPERM:
            // seccomp; EOPNOTSUPP, EBADF from copy_file_range on O_APPEND…): the next strategy
            // either works or reproduces the real error. After it, the error is reported.
            Err(e) if x.moved == 0 && !super::is_definitive(&e) => return Step::Fallback(e),
            // O_DIRECT on either side: the kernel refuses a piece that ends mid-block (the
            // file's unaligned tail, kernel-facts B36) with EINVAL, after whole blocks went through.
            // The failed call moved nothing and no bytes wait in a pipe, so the next strategy
            // (read/write in aligned memory, in the end) takes over where this one stopped.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && (x.si.direct || x.di.direct) => {
                return Step::Fallback(e)
            }
            // Reported: only now is the side worked out (it may probe the source).
            Err(e) => return Step::Failed(x.error(op, side_of(x, &e), e)),
        }
    }
}

fn call(x: &mut Xfer<'_>, calls: &mut Calls, strategy: Strategy, want: usize) -> io::Result<usize> {
    let (src, dst) = (x.src, x.dst);
    match strategy {
        Strategy::CopyFileRange => {
            sys::copy_file_range(src, x.src_off.as_mut(), dst, x.dst_off.as_mut(), want)
        }
        Strategy::Sendfile => sys::sendfile(dst, src, x.src_off.as_mut(), want),
        _ => {
            let flags = SpliceFlags::MOVE;
            calls.splice(
                src,
                x.src_off.as_mut(),
                dst,
                x.dst_off.as_mut(),
                want,
                flags,
            )
        }
    }
}

/// Which side a single-call error belongs to. Errnos only a sink gives are the output's; a
/// pipe sink can only fail with `EPIPE`, so with a pipe on one side the other side is blamed.
/// Between two non-pipes (sendfile, copy_file_range) one call reads and writes, so an errno
/// both sides can give (`EIO`) is attributed by asking the source for one more byte where
/// that reads nothing away: a source that reads fine did not fail.
fn side_of(x: &Xfer<'_>, e: &io::Error) -> Side {
    let output_only = [libc::EPIPE, libc::ENOSPC, libc::EDQUOT, libc::EFBIG];
    if e.raw_os_error().is_some_and(|n| output_only.contains(&n)) {
        return Side::Output;
    }
    match (x.si.kind, x.di.kind) {
        (FdKind::Pipe, d) if d != FdKind::Pipe => Side::Output,
        (_, FdKind::Pipe) => Side::Input,
        _ => match source_reads(x) {
            Some(true) => Side::Output,
            _ => Side::Input,
        },
    }
}

/// Whether the source still reads at the copy's position: a 1-byte `pread` for files and
/// block devices (the position does not move), a 1-byte `read` for the character devices
/// sendfile took bytes from (/dev/zero, /dev/urandom: nothing of value is consumed; a
/// terminal never gets here, as sendfile refuses it before any byte). `None` for kinds where
/// a probe would take data away. Called only for an error that will be reported.
fn source_reads(x: &Xfer<'_>) -> Option<bool> {
    let mut b = [0u8; 1];
    match x.si.kind {
        FdKind::File | FdKind::BlockDevice => {
            let mut at = match x.src_off {
                Some(o) => o,
                None => rustix::fs::seek(x.src, rustix::fs::SeekFrom::Current(0)).ok()?,
            };
            Some(sys::read(x.src, &mut b, Some(&mut at)).is_ok())
        }
        FdKind::CharDevice => Some(sys::read(x.src, &mut b, None).is_ok()),
        _ => None,
    }
}
