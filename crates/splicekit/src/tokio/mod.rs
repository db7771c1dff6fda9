//! Async splice for tokio sockets (feature `tokio`): [`copy`] and [`copy_bidirectional`] move
//! bytes socket → broker pipe → socket without copying them through user space.
//!
//! Each direction takes a pipe from a bounded [`PipePool`], splices into it from the reading
//! socket and out of it into the writing socket with `SPLICE_F_NONBLOCK`, and waits for
//! readiness only after a call said `EAGAIN` (tokio's `try_io` pattern: the attempt comes
//! first, and a `WouldBlock` clears the readiness the next wait registers for). An `EAGAIN`
//! while the pipe already holds bytes may mean its slots are full rather than the socket
//! empty, so it does not clear read readiness; the pipe is drained first.
//!
//! Where the kernel refuses splice for a pair (`EINVAL`, `ENOSYS`, `EOPNOTSUPP` before the
//! first byte), that direction copies through a 64 KiB buffer instead; bytes already in the
//! pipe are read out and sent first, so nothing is lost. The path taken is in the report.
//!
//! A pipe goes back to the pool only when it is empty: after an error the bytes still in it
//! are dropped with the connection and the pipe is closed.
//!
//! `splice(2)` into a socket whose peer has gone raises SIGPIPE (it has no `MSG_NOSIGNAL`).
//! Rust programs ignore SIGPIPE from startup, so the call fails with `EPIPE` and the relay
//! reports it; a program that restores SIGPIPE's default must not use these functions.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use tokio::net::{TcpListener, TcpStream};
//!
//! let upstream = TcpListener::bind("127.0.0.1:0").await?;
//! let front = TcpListener::bind("127.0.0.1:0").await?;
//! let (up_addr, front_addr) = (upstream.local_addr()?, front.local_addr()?);
//! // An echo server upstream.
//! tokio::spawn(async move {
//!     let (mut s, _) = upstream.accept().await?;
//!     let mut v = Vec::new();
//!     s.read_to_end(&mut v).await?;
//!     s.write_all(&v).await
//! });
//! // The relay: one connection.
//! tokio::spawn(async move {
//!     let (mut client, _) = front.accept().await?;
//!     let mut server = TcpStream::connect(up_addr).await?;
//!     splicekit::tokio::copy_bidirectional(&mut client, &mut server).await
//! });
//! let mut c = TcpStream::connect(front_addr).await?;
//! c.write_all(b"through two splices each way").await?;
//! c.shutdown().await?;
//! let mut back = String::new();
//! c.read_to_string(&mut back).await?;
//! assert_eq!(back, "through two splices each way");
//! # Ok(()) }
//! ```

mod direction;

use std::fmt;
use std::future::{poll_fn, Future as _};
use std::io;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use ::tokio::io::Interest;
use ::tokio::net::{TcpStream, UnixStream};
use ::tokio::time::{sleep, Instant, Sleep};

use self::direction::Direction;
use crate::error::{Error, Op, Side};
use crate::kind::{FdKind, SocketKind};
use crate::pipe::PipePool;

/// A tokio socket the relay can splice: [`TcpStream`] and [`UnixStream`].
///
/// Sealed: the relay needs the socket's descriptor and tokio's readiness for it.
pub trait SpliceStream: AsFd + sealed::Sealed {
    /// The kind named in errors.
    fn kind(&self) -> FdKind;
    /// Waits (registering `cx`) until tokio believes the socket ready for `interest`.
    fn poll_ready(&self, cx: &mut Context<'_>, interest: Interest) -> Poll<io::Result<()>>;
    /// Runs `f` (a system call on the socket); a `WouldBlock` it returns clears the readiness.
    fn try_io<R>(&self, interest: Interest, f: impl FnOnce() -> io::Result<R>) -> io::Result<R>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for tokio::net::TcpStream {}
    impl Sealed for tokio::net::UnixStream {}
}

macro_rules! splice_stream {
    ($t:ty, $kind:expr) => {
        impl SpliceStream for $t {
            fn kind(&self) -> FdKind {
                FdKind::Socket($kind)
            }
            fn poll_ready(&self, cx: &mut Context<'_>, i: Interest) -> Poll<io::Result<()>> {
                if i.is_readable() {
                    self.poll_read_ready(cx)
                } else {
                    self.poll_write_ready(cx)
                }
            }
            fn try_io<R>(&self, i: Interest, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
                <$t>::try_io(self, i, f)
            }
        }
    };
}
splice_stream!(TcpStream, SocketKind::Tcp);
splice_stream!(UnixStream, SocketKind::UnixStream);

/// How a direction moved its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// socket → pipe → socket by `splice(2)`.
    Splice,
    /// `read`/`write` through a buffer: the kernel refused splice, or no pipe could be made.
    Copy,
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Path::Splice => "splice",
            Path::Copy => "copy",
        })
    }
}

/// Settings for [`relay`] and [`copy_with`].
#[derive(Debug, Clone)]
pub struct Options {
    /// The broker pipe size asked per direction (default 1 MiB; the kernel may grant less).
    pub pipe_size: usize,
    /// Where pipes come from and go back to (default: a process-wide pool keeping 64 idle).
    pub pool: &'static PipePool,
    /// Ends the relay with an [`Op::Idle`] error when no byte moves either way for this long.
    pub idle_timeout: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        static POOL: PipePool = PipePool::new(64);
        Options {
            pipe_size: 1 << 20,
            pool: &POOL,
            idle_timeout: None,
        }
    }
}

/// What a finished (or failed) relay moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayReport {
    /// Bytes delivered from `a` to `b`.
    pub a_to_b: u64,
    /// Bytes delivered from `b` to `a`.
    pub b_to_a: u64,
    /// How `a` → `b` moved.
    pub a_to_b_path: Path,
    /// How `b` → `a` moved.
    pub b_to_a_path: Path,
}

/// A relay that ended on an error: the error and what both directions delivered before it.
#[derive(Debug)]
pub struct RelayError {
    /// What failed; [`Error::side`] with [`RelayError::a_to_b`] tells which socket.
    pub error: Error,
    /// Whether the failing direction was `a` → `b` (else `b` → `a`; for an idle timeout or
    /// a stop, `true`).
    pub a_to_b: bool,
    /// The bytes each direction delivered.
    pub report: RelayReport,
}

impl RelayError {
    /// Whether the error belongs to socket `a` (else `b`).
    pub fn on_a(&self) -> bool {
        (self.error.side() == Side::Input) == self.a_to_b
    }
}

impl fmt::Display for RelayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for RelayError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.error.io_error())
    }
}

impl From<RelayError> for io::Error {
    fn from(e: RelayError) -> io::Error {
        e.error.into()
    }
}

/// Copies from `reader` until it ends, into `writer`, then shuts down `writer`'s write half
/// (as a relay passes an EOF on). Returns the bytes copied; tokio's `io::copy` for sockets.
///
/// On error the bytes already in the broker pipe are dropped with it.
pub async fn copy<R, W>(reader: &mut R, writer: &mut W) -> io::Result<u64>
where
    R: SpliceStream + ?Sized,
    W: SpliceStream + ?Sized,
{
    copy_with(reader, writer, &Options::default())
        .await
        .map_err(io::Error::from)
}

/// [`copy`] with [`Options`]; errors keep their context.
pub async fn copy_with<R, W>(reader: &R, writer: &W, opts: &Options) -> Result<u64, Error>
where
    R: SpliceStream + ?Sized,
    W: SpliceStream + ?Sized,
{
    let mut d = Direction::new(opts.pool, opts.pipe_size, reader.kind(), writer.kind());
    poll_fn(|cx| d.poll_copy(cx, reader, writer)).await
}

/// Copies `a` → `b` and `b` → `a` at once until both have ended, like
/// `tokio::io::copy_bidirectional`: an EOF read from one side shuts down the write half of
/// the other, and the call returns `(a → b, b → a)` byte counts once both directions are
/// done. The first error ends both directions (bytes in flight are dropped).
pub async fn copy_bidirectional<A, B>(a: &mut A, b: &mut B) -> io::Result<(u64, u64)>
where
    A: SpliceStream + ?Sized,
    B: SpliceStream + ?Sized,
{
    match relay(a, b, &Options::default()).await {
        Ok(r) => Ok((r.a_to_b, r.b_to_a)),
        Err(e) => Err(e.into()),
    }
}

/// [`copy_bidirectional`] with [`Options`] (pipe size, pool, idle timeout) and a report that
/// says how each direction moved and, on error, which socket failed after how many bytes.
pub async fn relay<A, B>(a: &A, b: &B, opts: &Options) -> Result<RelayReport, RelayError>
where
    A: SpliceStream + ?Sized,
    B: SpliceStream + ?Sized,
{
    relay_until(a, b, opts, std::future::pending()).await
}

/// [`relay`] that also ends when `stop` completes (a lifetime running out, a shutdown): with
/// an [`Op::Stop`] error holding the `io::Error` `stop` gave and what both directions had
/// delivered by then ([`RelayError::a_to_b`] is `true`). Bytes in flight are dropped; the
/// sockets are left as they are, for the caller to close (or reset).
pub async fn relay_until<A, B, S>(
    a: &A,
    b: &B,
    opts: &Options,
    stop: S,
) -> Result<RelayReport, RelayError>
where
    A: SpliceStream + ?Sized,
    B: SpliceStream + ?Sized,
    S: std::future::Future<Output = io::Error>,
{
    let mut stop = std::pin::pin!(stop);
    let mut ab = Direction::new(opts.pool, opts.pipe_size, a.kind(), b.kind());
    let mut ba = Direction::new(opts.pool, opts.pipe_size, b.kind(), a.kind());
    let mut idle = opts.idle_timeout.map(|d| (d, Box::pin(sleep(d)), 0u64));
    let report = |ab: &Direction, ba: &Direction| RelayReport {
        a_to_b: ab.total,
        b_to_a: ba.total,
        a_to_b_path: ab.path,
        b_to_a_path: ba.path,
    };
    let end = poll_fn(|cx| {
        for (d, forward) in [(&mut ab, true), (&mut ba, false)] {
            if d.is_done() {
                continue;
            }
            let r = if forward {
                d.poll_copy(cx, a, b)
            } else {
                d.poll_copy(cx, b, a)
            };
            if let Poll::Ready(Err(error)) = r {
                let a_to_b = forward;
                return Poll::Ready(Err((error, a_to_b)));
            }
        }
        if ab.is_done() && ba.is_done() {
            return Poll::Ready(Ok(()));
        }
        if let Poll::Ready(e) = stop.as_mut().poll(cx) {
            let moved = ab.total + ba.total;
            let error = Error::new(Op::Stop, a.kind(), b.kind(), Side::Input, moved, e);
            return Poll::Ready(Err((error, true)));
        }
        match idle.as_mut() {
            Some((limit, timer, seen)) => {
                let moved = ab.total + ba.total;
                poll_idle(cx, *limit, timer, seen, moved).map_err(|e| {
                    let error = Error::new(Op::Idle, a.kind(), b.kind(), Side::Input, moved, e);
                    (error, true)
                })
            }
            None => Poll::Pending,
        }
    })
    .await;
    end.map(|()| report(&ab, &ba))
        .map_err(|(error, a_to_b)| RelayError {
            error,
            a_to_b,
            report: report(&ab, &ba),
        })
}

/// Re-arms the idle timer when bytes moved since the last poll; fires when it runs out.
fn poll_idle(
    cx: &mut Context<'_>,
    limit: Duration,
    timer: &mut Pin<Box<Sleep>>,
    seen: &mut u64,
    moved: u64,
) -> Poll<Result<(), io::Error>> {
    if moved != *seen {
        *seen = moved;
        timer.as_mut().reset(Instant::now() + limit);
    }
    match timer.as_mut().poll(cx) {
        Poll::Ready(()) => {
            let msg = format!("no byte moved either way for {limit:?}");
            Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, msg)))
        }
        Poll::Pending => Poll::Pending,
    }
}
