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
//!
//! # What it accepts
//!
//! [`copy`] reads from a [`SpliceRead`] and writes to a [`SpliceWrite`]; [`copy_bidirectional`]
//! and [`relay`] take two [`SpliceStream`]s. The traits are sealed, implemented for:
//!
//! | type | read | write | both |
//! |---|---|---|---|
//! | [`TcpStream`], [`UnixStream`] | yes | yes | yes |
//! | their owned halves ([`into_split`](TcpStream::into_split)): `tcp::OwnedReadHalf`, `unix::OwnedReadHalf` / `…OwnedWriteHalf` | read half | write half | — |
//! | their borrowed halves ([`split`](TcpStream::split)): `tcp::ReadHalf`, `unix::ReadHalf` / `…WriteHalf` | read half | write half | — |
//!
//! A half reaches its whole stream through tokio's `AsRef` impls, so the relay sees the
//! descriptor and the stream's readiness as with the stream itself. A read half can only be
//! a source and a write half only a sink (anything else does not compile), so a half never
//! touches the direction its sibling owns: the other half stays free for ordinary tokio
//! code, or for a second `copy` the other way (one task per direction).
//!
//! ```compile_fail
//! # async fn f(a: tokio::net::TcpStream, b: tokio::net::TcpStream) {
//! let (mut a_read, _) = a.into_split();
//! let (mut b_read, _) = b.into_split();
//! // A read half as the sink: SpliceWrite is not implemented for it.
//! splicekit::tokio::copy(&mut a_read, &mut b_read).await;
//! # }
//! ```
//!
//! Why not more:
//!
//! * **Anything `AsyncRead`/`AsyncWrite`** — the trait gives bytes, not a descriptor, and a
//!   type with a descriptor may still hold bytes in user space (a `BufReader`'s buffer, a TLS
//!   stream's decrypted records, a codec's frames). Splicing the descriptor would skip those
//!   bytes or send ciphertext; only types whose bytes all live in the kernel qualify.
//! * **`tokio::process` pipes** (`ChildStdin`, `ChildStdout`, `ChildStderr`) — they implement
//!   `AsFd` and are registered with tokio's reactor, but tokio does not expose their readiness
//!   (no `poll_read_ready`/`try_io`), and the descriptor cannot be registered a second time
//!   (in an `AsyncFd`) while tokio holds it. Without readiness the relay could only spin or
//!   block a runtime thread. What works: take the descriptor out with `into_owned_fd()` (tokio
//!   puts it back in blocking mode) and run the blocking engine, [`crate::copy()`], under
//!   `tokio::task::spawn_blocking`; it splices pipe ↔ socket directly.
//! * **`tokio::fs::File`** — not driven by the reactor at all (its I/O runs on the blocking
//!   pool); use [`crate::copy()`] under `spawn_blocking` likewise.
//! * **`UdpSocket`, `UnixDatagram`** — a splice shorter than a datagram drops the rest of it
//!   (kernel-facts F18); datagrams need one `recv`/`send` each.
//! * **`tokio::io::unix::AsyncFd`** — it does expose readiness, so it could be supported for
//!   pipes and stream sockets in non-blocking mode; it is not yet (a descriptor in blocking
//!   mode would block the runtime thread, and a pipe sink has no `shutdown` to pass EOF on).
//!
//! # Differences from `tokio::io::copy`
//!
//! [`copy`] is meant as a drop-in for `tokio::io::copy` between sockets, with these
//! differences:
//!
//! * **EOF shuts the writer down.** When `reader` ends, [`copy`] calls `shutdown(SHUT_WR)` on
//!   `writer`'s socket (a peer that already left, `ENOTCONN`, is not an error), so the peer
//!   reads EOF — as [`copy_bidirectional`] does for each direction, and as a relay must.
//!   `tokio::io::copy` only flushes the writer and leaves it open. After [`copy`] nothing more
//!   can be written to that socket (through any handle); its read direction is untouched, so
//!   a write half's sibling read half goes on working. This holds for an empty source too.
//! * **More bytes in flight.** Each call holds up to a pipe's capacity (1 MiB by default,
//!   [`Options::pipe_size`]) in the kernel instead of tokio's 8 KiB user-space buffer; the
//!   pipe comes from a pool and goes back when empty.
//! * **Errors and cancellation.** On error, and when the future is dropped before it
//!   finishes, the bytes already taken from `reader` but not yet written (in the pipe) are
//!   lost, as with tokio's buffer; a pipe that still holds bytes is closed rather than pooled,
//!   and `writer` is not shut down. [`copy`]'s error is an `io::Error` converted from a
//!   [`crate::Error`] (operation, side, bytes delivered); [`copy_with`] returns the
//!   [`crate::Error`] itself.
//! * **Types.** Only the socket types above, not any `AsyncRead`/`AsyncWrite`.
//! * **Scheduling.** A direction makes up to 32 steps in a row, then yields to the executor;
//!   tokio's copy uses tokio's cooperative budget instead.
//! * **SIGPIPE** must stay ignored (see above).

mod direction;

use std::fmt;
use std::future::{poll_fn, Future as _};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
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

/// A tokio socket, or one half of one, whose descriptor the relay may splice (sealed).
///
/// The relay needs three things tokio's own types give it and arbitrary I/O objects do not:
/// the descriptor, the reactor's readiness for it (`poll_read_ready`/`poll_write_ready`),
/// and `try_io`, which clears that readiness when a call says `EAGAIN`. See the
/// [module docs](self#what-it-accepts) for the types that implement it and why others
/// cannot.
pub trait SpliceFd: sealed::Sealed {
    /// The kind named in errors.
    fn kind(&self) -> FdKind;
    /// The socket's descriptor, for `splice(2)` and `shutdown(2)`.
    fn splice_fd(&self) -> BorrowedFd<'_>;
    /// Waits (registering `cx`) until tokio believes the socket ready for `interest`.
    ///
    /// # Errors
    /// The reactor's error for the socket (tokio reports a driver that has shut down).
    fn poll_ready(&self, cx: &mut Context<'_>, interest: Interest) -> Poll<io::Result<()>>;
    /// Runs `f` (a system call on the socket); a `WouldBlock` it returns clears the readiness.
    ///
    /// # Errors
    /// What `f` returns; `WouldBlock` also when tokio does not consider the socket ready.
    fn try_io<R>(&self, interest: Interest, f: impl FnOnce() -> io::Result<R>) -> io::Result<R>;
}

/// A [`SpliceFd`] the relay may read from: [`TcpStream`], [`UnixStream`] and their read
/// halves (owned or borrowed).
pub trait SpliceRead: SpliceFd {}

/// A [`SpliceFd`] the relay may write to — and shut down when the source ends:
/// [`TcpStream`], [`UnixStream`] and their write halves (owned or borrowed).
pub trait SpliceWrite: SpliceFd {}

/// A whole socket, both directions: what [`copy_bidirectional`] and [`relay`] take.
/// [`TcpStream`] and [`UnixStream`].
pub trait SpliceStream: SpliceRead + SpliceWrite + AsFd {}

impl<T: SpliceRead + SpliceWrite + AsFd + ?Sized> SpliceStream for T {}

mod sealed {
    pub trait Sealed {}
}

/// Implements [`SpliceFd`] and the direction traits for `$t`: a tokio socket type, or a half
/// of one, which reaches its whole `$stream` as `$get` (its readiness is the stream's).
macro_rules! splice_fd {
    ($t:ty, $stream:ty, |$s:ident| $get:expr, $kind:expr, $($dir:ident),+) => {
        impl sealed::Sealed for $t {}
        impl SpliceFd for $t {
            fn kind(&self) -> FdKind {
                FdKind::Socket($kind)
            }
            fn splice_fd(&self) -> BorrowedFd<'_> {
                let $s = self;
                let stream: &$stream = $get;
                stream.as_fd()
            }
            fn poll_ready(&self, cx: &mut Context<'_>, i: Interest) -> Poll<io::Result<()>> {
                let $s = self;
                let stream: &$stream = $get;
                if i.is_readable() {
                    stream.poll_read_ready(cx)
                } else {
                    stream.poll_write_ready(cx)
                }
            }
            fn try_io<R>(&self, i: Interest, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
                let $s = self;
                let stream: &$stream = $get;
                stream.try_io(i, f)
            }
        }
        $(impl $dir for $t {})+
    };
}

use ::tokio::net::{tcp, unix};
use SocketKind::{Tcp, UnixStream as Unix};
splice_fd!(TcpStream, TcpStream, |s| s, Tcp, SpliceRead, SpliceWrite);
splice_fd!(UnixStream, UnixStream, |s| s, Unix, SpliceRead, SpliceWrite);
/// A stream type's halves: the read halves as sources, the write halves as sinks.
macro_rules! halves {
    ($m:ident, $stream:ident, $kind:ident) => {
        splice_fd!(
            $m::OwnedReadHalf,
            $stream,
            |s| s.as_ref(),
            $kind,
            SpliceRead
        );
        splice_fd!(
            $m::OwnedWriteHalf,
            $stream,
            |s| s.as_ref(),
            $kind,
            SpliceWrite
        );
        splice_fd!($m::ReadHalf<'_>, $stream, |s| s.as_ref(), $kind, SpliceRead);
        splice_fd!(
            $m::WriteHalf<'_>,
            $stream,
            |s| s.as_ref(),
            $kind,
            SpliceWrite
        );
    };
}
halves!(tcp, TcpStream, Tcp);
halves!(unix, UnixStream, Unix);

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
///
/// ```
/// use std::time::Duration;
/// use splicekit::tokio::Options;
/// // A relay for many idle connections: small pipes, a pool of its own, a timeout.
/// static POOL: splicekit::PipePool = splicekit::PipePool::new(256);
/// let opts = Options {
///     pipe_size: 64 << 10,
///     pool: &POOL,
///     idle_timeout: Some(Duration::from_secs(60)),
/// };
/// # let _ = opts;
/// let defaults = Options::default();
/// assert_eq!(defaults.pipe_size, 1 << 20);
/// assert_eq!(defaults.idle_timeout, None);
/// ```
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

/// Copies from `reader` until it ends, into `writer`, then shuts down `writer`'s write
/// direction (as a relay passes an EOF on). Returns the bytes copied. `tokio::io::copy` for
/// sockets, except for the shutdown and the other [differences](self#differences-from-tokioiocopy).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// use tokio::net::UnixStream;
/// let (mut feed, src) = UnixStream::pair()?;
/// let (dst, mut sink) = UnixStream::pair()?;
/// let (mut src_read, _src_write) = src.into_split();
/// let (mut dst_read, mut dst_write) = dst.into_split();
/// feed.write_all(b"request").await?;
/// feed.shutdown().await?;
/// let n = splicekit::tokio::copy(&mut src_read, &mut dst_write).await?;
/// assert_eq!(n, 7);
/// let mut got = Vec::new();
/// sink.read_to_end(&mut got).await?; // EOF: `copy` shut `dst` down for writing
/// assert_eq!(got, b"request");
/// sink.write_all(b"reply").await?; // the other direction still works
/// let mut reply = [0; 5];
/// dst_read.read_exact(&mut reply).await?;
/// assert_eq!(&reply, b"reply");
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`copy_with`], converted into an `io::Error` (`From<Error> for io::Error`). The bytes
/// already taken from `reader` but not yet written are lost.
pub async fn copy<R, W>(reader: &mut R, writer: &mut W) -> io::Result<u64>
where
    R: SpliceRead + ?Sized,
    W: SpliceWrite + ?Sized,
{
    copy_with(reader, writer, &Options::default())
        .await
        .map_err(io::Error::from)
}

/// [`copy`] with [`Options`]; errors keep their context.
///
/// # Errors
/// An [`Error`] with the operation ([`Op::Splice`], or [`Op::Read`]/[`Op::Write`] on the
/// buffered path), the [`Side`] that failed and the bytes that reached `writer`
/// ([`Error::bytes_moved`]):
/// * `ECONNRESET` (reading) or `EPIPE` (writing) when a peer resets or has gone;
/// * `ETIMEDOUT`, `EHOSTUNREACH` and the like from TCP;
/// * `EMFILE`/`ENFILE` is not among them: without a pipe a direction copies through a
///   buffer ([`Path::Copy`]), as it does when the kernel refuses splice for the pair
///   (`EINVAL`, `ENOSYS`, `EOPNOTSUPP` before the first byte);
/// * [`Op::Shutdown`]: passing the EOF on with `shutdown(2)` failed (`ENOTCONN`, a peer
///   already gone, is not an error).
///
/// `EINTR` is retried and `EAGAIN` waited out on the reactor.
pub async fn copy_with<R, W>(reader: &R, writer: &W, opts: &Options) -> Result<u64, Error>
where
    R: SpliceRead + ?Sized,
    W: SpliceWrite + ?Sized,
{
    let mut d = Direction::new(opts.pool, opts.pipe_size, reader.kind(), writer.kind());
    poll_fn(|cx| d.poll_copy(cx, reader, writer)).await
}

/// Copies `a` → `b` and `b` → `a` at once until both have ended, like
/// `tokio::io::copy_bidirectional`: an EOF read from one side shuts down the write half of
/// the other, and the call returns `(a → b, b → a)` byte counts once both directions are
/// done. The first error ends both directions (bytes in flight are dropped).
///
/// # Errors
/// As [`relay`], converted into an `io::Error` (`From<RelayError> for io::Error`; which
/// socket failed is not kept, [`relay`] keeps it).
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
///
/// # Errors
/// A [`RelayError`]: the first error of either direction ([`RelayError::on_a`] tells which
/// socket), with what both directions had delivered. The errors of [`copy_with`], and
/// [`Op::Idle`] (kind `TimedOut`) when [`Options::idle_timeout`] passes with no byte moved.
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
///
/// # Errors
/// As [`relay`], and [`Op::Stop`] when `stop` completes first.
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
/// (Shared with the io_uring relay.)
pub(crate) fn poll_idle(
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
