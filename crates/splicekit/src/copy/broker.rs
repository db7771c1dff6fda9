//! Two splice hops through a pooled broker pipe: source → pipe → sink. For pairs where neither
//! side is a pipe and sendfile cannot serve (a socket source), and as the fastest file → pipe
//! path (kernel-facts §4.1: the reader drains while the next chunk is looked up).

use super::calls::Calls;
use super::{is_again, is_definitive, is_intr, readwrite, Step, Xfer};
use crate::error::{Op, Side};
use crate::pipe::PipePool;
use crate::ready::Ready;
use crate::sys::SpliceFlags;

/// Runs the broker strategy until done, refused or failed.
pub(super) fn run(x: &mut Xfer<'_>) -> Step {
    let mut pipe = match PipePool::global().take(x.opts.pipe_size) {
        Ok(p) => p,
        // EMFILE/ENFILE: without a broker pipe the copy still works by read/write (kernel-facts F17).
        Err(e) => return x.refuse(Op::Pipe, Side::Output, e),
    };
    let chunk = x.opts.chunk.unwrap_or(usize::MAX).min(pipe.capacity());
    let mut calls = Calls::new(x.opts.backend);
    loop {
        let want = x.want(chunk);
        if want == 0 {
            return Step::Done;
        }
        // On a ring, the out-hop of a full in-hop ran too (linked) and `next` holds its
        // result; it was cancelled, and moved nothing, when the in-hop came back short.
        let (r, mut next) = calls.hops(x, &pipe, want);
        x.syscalls += 1;
        let mut pending = match r {
            Ok(0) => return Step::Done,
            Ok(n) => n,
            Err(e) if is_intr(&e) => continue,
            Err(e) if is_again(&e) => match x.wait(x.src, Ready::Read, Side::Input) {
                Ok(()) => continue,
                Err(e) => return Step::Failed(e),
            },
            // An O_DIRECT source refuses its unaligned tail with EINVAL; the broker pipe is
            // empty here, so read/write takes over where the splices stopped.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && x.si.direct => {
                return Step::Fallback(e)
            }
            Err(e) => return x.refuse(Op::Splice, Side::Input, e),
        };
        while pending > 0 {
            x.syscalls += 1;
            let r = match next.take() {
                Some(r) => r,
                None => calls.splice(
                    pipe.reader(),
                    None,
                    x.dst,
                    x.dst_off.as_mut(),
                    pending.min(x.max_call),
                    SpliceFlags::MOVE,
                ),
            };
            match r {
                Ok(n) if n > 0 => {
                    pending -= n;
                    x.delivered(n);
                }
                Ok(_) => {
                    // A splice out of a non-empty pipe never returns 0; never loop on it.
                    pipe.mark_dirty();
                    let e =
                        std::io::Error::new(std::io::ErrorKind::WriteZero, "splice moved 0 bytes");
                    return Step::Failed(x.error(Op::Splice, Side::Output, e));
                }
                Err(e) if is_intr(&e) => {}
                Err(e) if is_again(&e) => {
                    if let Err(e) = x.wait(x.dst, Ready::Write, Side::Output) {
                        pipe.mark_dirty();
                        return Step::Failed(e);
                    }
                }
                Err(e) if x.moved == 0 && !is_definitive(&e) => {
                    // The sink refuses splice (EINVAL: /dev/full, O_APPEND, O_DIRECT…) but the
                    // source's bytes already sit in our pipe: deliver them with write(2) first,
                    // then let read/write finish (kernel-facts F15). write reports the real error.
                    if let Err(err) = readwrite::drain_pipe(x, pipe.reader(), pending) {
                        pipe.mark_dirty();
                        return Step::Failed(err);
                    }
                    return Step::Fallback(e);
                }
                Err(e) => {
                    pipe.mark_dirty();
                    return Step::Failed(x.error(Op::Splice, Side::Output, e));
                }
            }
        }
    }
}
