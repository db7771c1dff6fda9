//! A relay worker: its own single-threaded runtime, an accept loop, one task per connection,
//! and the grace period after a stop.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use splicekit::tokio::{relay, Options, Path, SpliceStream};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::{watch, OwnedSemaphorePermit};
use tokio::task::JoinSet;

use super::addr::{Bound, Endpoint};
use super::{Config, How};
use crate::util::strerror;

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Listener {
    fn register(b: Bound) -> io::Result<Listener> {
        Ok(match b {
            Bound::Tcp(l) => Listener::Tcp(TcpListener::from_std(l)?),
            Bound::Unix(l) => Listener::Unix(UnixListener::from_std(l)?),
        })
    }

    /// The next connection and a name for its peer.
    async fn accept(&self) -> io::Result<(Stream, String)> {
        match self {
            Listener::Tcp(l) => {
                let (s, peer) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Ok((Stream::Tcp(s), peer.to_string()))
            }
            Listener::Unix(l) => Ok((Stream::Unix(l.accept().await?.0), "unix".to_string())),
        }
    }
}

async fn connect(to: &Endpoint) -> io::Result<Stream> {
    Ok(match to {
        Endpoint::Tcp(a) => {
            let s = TcpStream::connect(a).await?;
            let _ = s.set_nodelay(true);
            Stream::Tcp(s)
        }
        Endpoint::Unix(p) => Stream::Unix(UnixStream::connect(p).await?),
    })
}

/// Runs one worker until `stop` turns true, then lets open connections finish for the grace
/// period and cuts the rest.
pub fn worker(l: Bound, cfg: &Arc<Config>, stop: watch::Receiver<bool>) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return eprintln!("relay: runtime: {}", strerror(&e)),
    };
    rt.block_on(async {
        let listener = match Listener::register(l) {
            Ok(l) => l,
            Err(e) => return eprintln!("relay: listen: {}", strerror(&e)),
        };
        let mut conns = JoinSet::new();
        accept_loop(&listener, cfg, stop, &mut conns).await;
        drop(listener);
        let all = async { while conns.join_next().await.is_some() {} };
        if tokio::time::timeout(cfg.grace, all).await.is_err() {
            eprintln!(
                "relay: {} connection(s) cut at the end of the {:?} grace period",
                conns.len(),
                cfg.grace
            );
            conns.shutdown().await;
        }
    });
}

async fn accept_loop(
    listener: &Listener,
    cfg: &Arc<Config>,
    mut stop: watch::Receiver<bool>,
    conns: &mut JoinSet<()>,
) {
    loop {
        while conns.try_join_next().is_some() {}
        // Waiting for a free slot before accepting leaves excess connections in the backlog.
        let mut permit = None;
        if let (Some(limit), false) = (&cfg.limit, cfg.refuse_excess) {
            tokio::select! {
                p = limit.clone().acquire_owned() => permit = p.ok(),
                _ = stop.changed() => return,
            }
        }
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of descriptors (EMFILE/ENFILE) or a connection aborted before accept:
                // say so, breathe, go on.
                eprintln!("relay: accept: {}", strerror(&e));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if let (Some(limit), None) = (&cfg.limit, &permit) {
            match limit.clone().try_acquire_owned() {
                Ok(p) => permit = Some(p),
                Err(_) => {
                    eprintln!("relay: {peer}: refused: --max-conns connections are open");
                    continue;
                }
            }
        }
        let cfg = cfg.clone();
        conns.spawn(handle(stream, peer, cfg, permit));
    }
}

/// What a finished connection moved, or how it failed.
struct Outcome {
    up: u64,
    down: u64,
    path: String,
    error: Option<String>,
}

async fn handle(
    client: Stream,
    peer: String,
    cfg: Arc<Config>,
    _slot: Option<OwnedSemaphorePermit>,
) {
    let t0 = Instant::now();
    let to = &cfg.upstream;
    let upstream = match tokio::time::timeout(cfg.connect_timeout, connect(to)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return eprintln!("relay: {peer}: upstream {to}: connect: {}", strerror(&e)),
        Err(_) => {
            let t = cfg.connect_timeout;
            return eprintln!("relay: {peer}: upstream {to}: connect: timed out after {t:?}");
        }
    };
    let o = match (client, upstream) {
        (Stream::Tcp(mut a), Stream::Tcp(mut b)) => pump(&mut a, &mut b, &cfg).await,
        (Stream::Tcp(mut a), Stream::Unix(mut b)) => pump(&mut a, &mut b, &cfg).await,
        (Stream::Unix(mut a), Stream::Tcp(mut b)) => pump(&mut a, &mut b, &cfg).await,
        (Stream::Unix(mut a), Stream::Unix(mut b)) => pump(&mut a, &mut b, &cfg).await,
    };
    let secs = t0.elapsed().as_secs_f64();
    let (up, down) = (o.up, o.down);
    match o.error {
        Some(e) => eprintln!(
            "relay: {peer} -> {to}: {e} (up {up} down {down} bytes in {secs:.3} s by {})",
            o.path
        ),
        None if cfg.log => eprintln!(
            "relay: {peer} -> {to}: up {up} down {down} bytes in {secs:.3} s by {}",
            o.path
        ),
        None => {}
    }
}

/// Moves the connection's bytes by the configured strategy.
async fn pump<A, B>(a: &mut A, b: &mut B, cfg: &Config) -> Outcome
where
    A: SpliceStream + AsyncRead + AsyncWrite + Unpin,
    B: SpliceStream + AsyncRead + AsyncWrite + Unpin,
{
    if cfg.how == How::Copy {
        let path = "tokio::io::copy_bidirectional".to_string();
        return match tokio::io::copy_bidirectional(a, b).await {
            Ok((up, down)) => Outcome {
                up,
                down,
                path,
                error: None,
            },
            Err(e) => Outcome {
                up: 0,
                down: 0,
                path,
                error: Some(strerror(&e)),
            },
        };
    }
    let opts = Options {
        pipe_size: cfg.pipe_size,
        idle_timeout: cfg.idle_timeout,
        ..Options::default()
    };
    let paths = |x: Path, y: Path| {
        if x == y {
            x.to_string()
        } else {
            format!("{x} up, {y} down")
        }
    };
    match relay(&*a, &*b, &opts).await {
        Ok(r) => Outcome {
            up: r.a_to_b,
            down: r.b_to_a,
            path: paths(r.a_to_b_path, r.b_to_a_path),
            error: None,
        },
        Err(e) => {
            let r = e.report;
            let who = if e.error.op() == splicekit::Op::Idle {
                "idle"
            } else if e.on_a() {
                "client"
            } else {
                "upstream"
            };
            Outcome {
                up: r.a_to_b,
                down: r.b_to_a,
                path: paths(r.a_to_b_path, r.b_to_a_path),
                error: Some(format!("{who}: {}", e.error)),
            }
        }
    }
}
