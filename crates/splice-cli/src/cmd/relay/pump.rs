//! How a connection's bytes move once both sockets are open: `tokio::io::copy_bidirectional`
//! (--strategy copy), `splicekit::tokio::relay_until` (splice on epoll) or
//! `splicekit::uring::relay_until` (--engine uring); each ends in an [`Outcome`] for the log
//! line and the counters.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use splicekit::tokio::{relay_until, Options, Path, RelayError, RelayReport, SpliceStream};
use splicekit::uring::Reactor;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::serve::Stream;
use super::{Config, How};
use crate::util::strerror;

/// What a finished connection moved, or how it failed.
pub struct Outcome {
    pub up: u64,
    pub down: u64,
    pub path: String,
    pub error: Option<String>,
}

/// A stream that counts the bytes written into it and notes whether it failed.
struct Counted<'a, S> {
    s: &'a mut S,
    wrote: u64,
    failed: bool,
}

impl<'a, S: Unpin> Counted<'a, S> {
    fn new(s: &'a mut S) -> Self {
        let (wrote, failed) = (0, false);
        Counted { s, wrote, failed }
    }

    fn poll<T>(
        &mut self,
        f: impl FnOnce(Pin<&mut S>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let r = f(Pin::new(&mut *self.s));
        self.failed |= matches!(r, Poll::Ready(Err(_)));
        r
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<'_, S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.poll(|s| s.poll_read(cx, buf))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<'_, S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = self.poll(|s| s.poll_write(cx, buf));
        if let Poll::Ready(Ok(n)) = r {
            self.wrote += n as u64;
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll(|s| s.poll_flush(cx))
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll(|s| s.poll_shutdown(cx))
    }
}

/// Moves the connection's bytes by the configured strategy until they end or `stop` does.
pub async fn pump<A, B, S>(a: &mut A, b: &mut B, cfg: &Config, stop: S) -> Outcome
where
    A: SpliceStream + AsyncRead + AsyncWrite + Unpin,
    B: SpliceStream + AsyncRead + AsyncWrite + Unpin,
    S: std::future::Future<Output = io::Error>,
{
    if cfg.how == How::Copy {
        let path = "tokio::io::copy_bidirectional".to_string();
        // Counted here: copy_bidirectional's own counts are lost when it fails.
        let (mut a, mut b) = (Counted::new(a), Counted::new(b));
        let r = tokio::select! {
            r = tokio::io::copy_bidirectional(&mut a, &mut b) => r.err().map(|e| (e, true)),
            e = stop => Some((e, false)),
        };
        return Outcome {
            up: b.wrote,
            down: a.wrote,
            path,
            error: r.map(|(e, io)| match (io, a.failed) {
                (false, _) => e.to_string(),
                (true, true) => format!("client: {}", strerror(&e)),
                (true, false) => format!("upstream: {}", strerror(&e)),
            }),
        };
    }
    let opts = Options {
        pipe_size: cfg.pipe_size,
        idle_timeout: cfg.idle_timeout,
        ..Options::default()
    };
    outcome(relay_until(&*a, &*b, &opts, stop).await)
}

/// The io_uring engine: both sockets leave tokio (non-blocking still) and are shared with the
/// worker's ring, which keeps them open while any entry names them; closed here (reset after
/// an error) once the relay has ended and its entries are done.
pub async fn pump_uring<S>(
    r: &Arc<Reactor>,
    client: Stream,
    upstream: Stream,
    cfg: &Config,
    stop: S,
) -> Outcome
where
    S: std::future::Future<Output = io::Error>,
{
    let (a, b) = match (client.into_owned(), upstream.into_owned()) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            return Outcome {
                up: 0,
                down: 0,
                path: Path::Splice.to_string(),
                error: Some(format!("io_uring: {}", strerror(&e))),
            }
        }
    };
    let opts = Options {
        pipe_size: cfg.pipe_size,
        idle_timeout: cfg.idle_timeout,
        ..Options::default()
    };
    let res = splicekit::uring::relay_until(r, a.0.clone(), b.0.clone(), &opts, stop).await;
    let o = outcome(res);
    if o.error.is_some() {
        for (fd, tcp) in [&a, &b] {
            if *tcp {
                let _ = rustix::net::sockopt::set_socket_linger(&**fd, Some(Duration::ZERO));
            }
        }
    }
    // The relay's entries are all complete: these are the last references, so the sockets
    // close here, before the log line.
    drop((a, b));
    o
}

/// A finished relay's report or error as the log and the counters want it.
fn outcome(res: Result<RelayReport, RelayError>) -> Outcome {
    let paths = |x: Path, y: Path| {
        if x == y {
            x.to_string()
        } else {
            format!("{x} up, {y} down")
        }
    };
    match res {
        Ok(r) => Outcome {
            up: r.a_to_b,
            down: r.b_to_a,
            path: paths(r.a_to_b_path, r.b_to_a_path),
            error: None,
        },
        Err(e) => {
            let r = e.report;
            let error = match e.error.op() {
                splicekit::Op::Stop => e.error.io_error().to_string(),
                splicekit::Op::Idle => format!("idle: {}", e.error),
                _ if e.on_a() => format!("client: {}", e.error),
                _ => format!("upstream: {}", e.error),
            };
            Outcome {
                up: r.a_to_b,
                down: r.b_to_a,
                path: paths(r.a_to_b_path, r.b_to_a_path),
                error: Some(error),
            }
        }
    }
}
