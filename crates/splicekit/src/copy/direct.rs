//! The single-call strategies: `copy_file_range`, `sendfile` and a direct `splice`, each
//! called in a loop until the source ends or the length is reached.

use std::io;

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
    loop {
        let want = x.want(chunk);
        if want == 0 {
            return Step::Done;
        }
        x.syscalls += 1;
        match call(x, strategy, want) {
            Ok(0) if x.moved == 0 && strategy == Strategy::CopyFileRange => {
                // Linux <= 5.18 returned 0 for non-empty /proc and /sys files and some overlay
                // mounts (FACTS F8): a 0 on the first call is confirmed by the next strategy.
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
            Err(e) => return x.refuse(op, side_of(x, &e), e),
        }
    }
}

fn call(x: &mut Xfer<'_>, strategy: Strategy, want: usize) -> io::Result<usize> {
    let (src, dst) = (x.src, x.dst);
    match strategy {
        Strategy::CopyFileRange => {
            sys::copy_file_range(src, x.src_off.as_mut(), dst, x.dst_off.as_mut(), want)
        }
        Strategy::Sendfile => sys::sendfile(dst, src, x.src_off.as_mut(), want),
        _ => {
            let flags = SpliceFlags::MOVE;
            sys::splice(
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
fn side_of(x: &Xfer<'_>, e: &io::Error) -> Side {
    let output_only = [libc::EPIPE, libc::ENOSPC, libc::EDQUOT, libc::EFBIG];
    if e.raw_os_error().is_some_and(|n| output_only.contains(&n)) {
        return Side::Output;
    }
    match (x.si.kind, x.di.kind) {
        (FdKind::Pipe, d) if d != FdKind::Pipe => Side::Output,
        _ => Side::Input,
    }
}
