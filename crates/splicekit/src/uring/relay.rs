//! A bidirectional relay whose bytes move by io_uring: each direction (`direction.rs`) as
//! `IORING_OP_SPLICE` and `IORING_OP_POLL_ADD` entries on a [`Reactor`], with the stop, idle
//! timeout and report of [`crate::tokio::relay_until`].

use std::future::{poll_fn, Future};
use std::io;
use std::sync::Arc;
use std::task::Poll;

use ::tokio::time::sleep;

use super::direction::Direction;
use crate::error::{Error, Op as ErrOp, Side};
use crate::kind::FdKind;
use crate::sys::uring::reactor::{Keep, Reactor};
use crate::tokio::{poll_idle, Options, RelayError, RelayReport};

/// [`crate::tokio::relay_until`] on an io_uring [`Reactor`]: copies `a` → `b` and `b` → `a`
/// until both have ended (each EOF passed on with `shutdown(SHUT_WR)` once the pipe is
/// drained), the first error, [`Options::idle_timeout`] or `stop`.
///
/// `a` and `b` are stream sockets (TCP or Unix) in **non-blocking** mode, shared with the
/// reactor: each op holds the `Arc`s until the kernel has posted its completion, so the
/// descriptors stay open while any entry names them, even if this future is dropped. When the
/// relay ends on an error, a timeout or `stop`, it cancels its entries and returns only once
/// the kernel has let go of them (bytes in flight are dropped; a pipe left holding bytes is
/// closed, not pooled). The report's paths are [`Splice`](crate::tokio::Path::Splice), or
/// [`Copy`](crate::tokio::Path::Copy) for a direction that had no pipe (`EMFILE`) or whose
/// pair the kernel refused to splice.
///
/// # Errors
/// As [`crate::tokio::relay_until`]: the first error of either direction
/// ([`RelayError::on_a`] tells which socket), [`ErrOp::Idle`], [`ErrOp::Stop`]; an error of the
/// ring itself is reported as an [`ErrOp::Poll`] error on the side it was waiting for.
pub async fn relay_until<S>(
    reactor: &Arc<Reactor>,
    a: Arc<dyn Keep>,
    b: Arc<dyn Keep>,
    opts: &Options,
    stop: S,
) -> Result<RelayReport, RelayError>
where
    S: Future<Output = io::Error>,
{
    let kind = |s: &Arc<dyn Keep>| FdKind::of(s.as_fd()).unwrap_or(FdKind::Other);
    let (ka, kb) = (kind(&a), kind(&b));
    let mut stop = std::pin::pin!(stop);
    let mut ab = Direction::new(reactor, &a, &b, opts, (ka, kb));
    let mut ba = Direction::new(reactor, &b, &a, opts, (kb, ka));
    let mut idle = opts.idle_timeout.map(|d| (d, Box::pin(sleep(d)), 0u64));
    let end = poll_fn(|cx| {
        for (d, forward) in [(&mut ab, true), (&mut ba, false)] {
            if d.done {
                continue;
            }
            if let Poll::Ready(Err(error)) = d.poll_copy(cx) {
                return Poll::Ready(Err((error, forward)));
            }
        }
        if ab.done && ba.done {
            return Poll::Ready(Ok(()));
        }
        let moved = ab.total + ba.total;
        if let Poll::Ready(e) = stop.as_mut().poll(cx) {
            let error = Error::new(ErrOp::Stop, ka, kb, Side::Input, moved, e);
            return Poll::Ready(Err((error, true)));
        }
        match idle.as_mut() {
            Some((limit, timer, seen)) => poll_idle(cx, *limit, timer, seen, moved).map_err(|e| {
                let error = Error::new(ErrOp::Idle, ka, kb, Side::Input, moved, e);
                (error, true)
            }),
            None => Poll::Pending,
        }
    })
    .await;
    // Whatever ended it, no entry of this relay is left in the kernel when it returns.
    ab.cancel();
    ba.cancel();
    poll_fn(|cx| {
        let x = ab.poll_settled(cx);
        let y = ba.poll_settled(cx);
        if x.is_ready() && y.is_ready() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    let report = RelayReport {
        a_to_b: ab.total,
        b_to_a: ba.total,
        a_to_b_path: ab.path,
        b_to_a_path: ba.path,
    };
    end.map(|()| report).map_err(|(error, a_to_b)| RelayError {
        error,
        a_to_b,
        report,
    })
}
