//! `read(2)` + `write(2)` through a user buffer: the path that works for every pair, and the
//! one that reports the kernel's real error when a zero-copy call only said EINVAL.

use std::io;
use std::os::fd::BorrowedFd;

use super::{is_again, is_intr, Step, Xfer};
use crate::error::{Error, Op, Side};
use crate::ready::Ready;
use crate::sys;

/// The largest datagram a read must hold without truncation (unix datagrams can exceed 64 KiB).
const DATAGRAM_BUF: usize = 256 * 1024;

/// Runs read/write until done or failed; it never falls back.
pub(super) fn run(x: &mut Xfer<'_>) -> Step {
    let mut size = x.opts.buffer_size.max(1);
    if matches!(x.si.kind, crate::FdKind::Socket(k) if k.is_datagram()) {
        size = size.max(DATAGRAM_BUF);
    }
    // An O_DIRECT source reads only into block-aligned memory: align the buffer to a page
    // (its length, 128 KiB by default, stays a multiple of the page).
    let align = if x.si.direct { 4096 } else { 1 };
    let mut storage = vec![0u8; size + align - 1];
    let off = storage.as_ptr().align_offset(align).min(align - 1);
    let buf = &mut storage[off..off + size];
    loop {
        let want = x.want(size);
        if want == 0 {
            return Step::Done;
        }
        let n = match read_some(x, x.src, &mut buf[..want], true) {
            Ok(0) => return Step::Done,
            Ok(n) => n,
            Err(e) => return Step::Failed(e),
        };
        if let Err(e) = write_all(x, &buf[..n]) {
            return Step::Failed(e);
        }
        if x.si.direct && n % 512 != 0 {
            // An O_DIRECT read ends mid-block only at the end of the file; asking again
            // from that unaligned offset would fail with EINVAL rather than return 0.
            return Step::Done;
        }
    }
}

/// Moves `pending` bytes that sit in `pipe_r` (the engine's own pipe) to the sink with
/// read/write.
pub(super) fn drain_pipe(
    x: &mut Xfer<'_>,
    pipe_r: BorrowedFd<'_>,
    mut pending: usize,
) -> Result<(), Error> {
    let mut buf = vec![0u8; pending.min(x.opts.buffer_size.max(1))];
    while pending > 0 {
        let want = pending.min(buf.len()).min(x.max_call);
        let n = read_some(x, pipe_r, &mut buf[..want], false)?;
        if n == 0 {
            let e = io::Error::new(io::ErrorKind::UnexpectedEof, "broker pipe ended early");
            return Err(x.error(Op::Read, Side::Input, e));
        }
        write_all(x, &buf[..n])?;
        pending -= n;
    }
    Ok(())
}

fn read_some(
    x: &mut Xfer<'_>,
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    at_src: bool,
) -> Result<usize, Error> {
    loop {
        x.syscalls += 1;
        let off = if at_src { x.src_off.as_mut() } else { None };
        match sys::read(fd, buf, off) {
            Ok(n) => return Ok(n),
            Err(e) if is_intr(&e) => {}
            Err(e) if is_again(&e) => x.wait(fd, Ready::Read, Side::Input)?,
            Err(e) => return Err(x.error(Op::Read, Side::Input, e)),
        }
    }
}

fn write_all(x: &mut Xfer<'_>, mut data: &[u8]) -> Result<(), Error> {
    while !data.is_empty() {
        x.syscalls += 1;
        match sys::write(x.dst, data, x.dst_off.as_mut()) {
            Ok(0) => {
                let e = io::Error::new(io::ErrorKind::WriteZero, "write returned 0");
                return Err(x.error(Op::Write, Side::Output, e));
            }
            Ok(n) => {
                x.delivered(n);
                data = &data[n..];
            }
            Err(e) if is_intr(&e) => {}
            Err(e) if is_again(&e) => x.wait(x.dst, Ready::Write, Side::Output)?,
            Err(e) => return Err(x.error(Op::Write, Side::Output, e)),
        }
    }
    Ok(())
}
