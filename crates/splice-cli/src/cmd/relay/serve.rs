//! A relay worker: its own single-threaded runtime, an accept loop, one task per connection,
//! and the grace period after a stop.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use splicekit::uring::{Accepts, Reactor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::{watch, OwnedSemaphorePermit};
use tokio::task::JoinSet;

use super::addr::{Bound, Endpoint};
use super::proxy;
use super::pump::{pump, pump_uring};
use super::{Config, Engine, How};
use crate::util::strerror;

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    /// Who is at the other end and what it connected to (`None` for a Unix client).
    fn origin(&self) -> proxy::Origin {
        match self {
            Stream::Tcp(c) => Some((c.peer_addr().ok()?, c.local_addr().ok()?)),
            Stream::Unix(_) => None,
        }
    }

    /// Writes the PROXY protocol header for a client at `origin` (not counted in the bytes
    /// relayed: it is not the client's).
    async fn send_proxy(&mut self, origin: proxy::Origin, v: proxy::Version) -> io::Result<()> {
        let h = proxy::header(v, origin);
        match self {
            Stream::Tcp(s) => s.write_all(&h).await,
            Stream::Unix(s) => s.write_all(&h).await,
        }
    }

    /// Reads a PROXY header off the client, and not one byte past it: each round peeks at
    /// what has arrived (`MSG_PEEK`), and takes off the socket only what belongs to the
    /// header, so the client's first bytes stay queued for the relay, however the header was
    /// split across reads.
    async fn accept_proxy(&mut self) -> Result<proxy::Origin, String> {
        let mut head = Vec::new();
        let mut buf = vec![0u8; 16 + proxy::V2_MAX_BLOCK];
        loop {
            let n = self.peek(&mut buf).await.map_err(|e| strerror(&e))?;
            if n == 0 {
                return Err(match head.len() {
                    0 => "the client closed before sending it".into(),
                    n => format!("the client closed after {n} byte(s) of it"),
                });
            }
            head.extend_from_slice(&buf[..n]);
            let (take, origin) = match proxy::parse(&head) {
                proxy::Parse::More => (n, None),
                proxy::Parse::Done(len, o) => (n - (head.len() - len), Some(o)),
                proxy::Parse::Bad(why) => return Err(why),
            };
            let r = match self {
                Stream::Tcp(s) => s.read_exact(&mut buf[..take]).await,
                Stream::Unix(s) => s.read_exact(&mut buf[..take]).await,
            };
            r.map_err(|e| strerror(&e))?;
            if let Some(o) = origin {
                return Ok(o);
            }
        }
    }

    /// Copies what has arrived into `buf` without taking it off the socket.
    async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        use rustix::net::{recv, RecvFlags};
        use tokio::io::Interest;
        let peek = |fd: std::os::fd::BorrowedFd<'_>, buf: &mut [u8]| {
            recv(fd, buf, RecvFlags::PEEK)
                .map(|(n, _)| n)
                .map_err(io::Error::from)
        };
        loop {
            let r = match self {
                Stream::Tcp(s) => {
                    s.readable().await?;
                    s.try_io(Interest::READABLE, || peek(s.as_fd(), buf))
                }
                Stream::Unix(s) => {
                    s.readable().await?;
                    s.try_io(Interest::READABLE, || peek(s.as_fd(), buf))
                }
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return r,
            }
        }
    }

    /// The socket out of tokio's hands (still non-blocking), for the io_uring engine; and
    /// whether it is TCP.
    pub fn into_owned(self) -> io::Result<(Arc<std::os::fd::OwnedFd>, bool)> {
        Ok(match self {
            Stream::Tcp(s) => (Arc::new(s.into_std()?.into()), true),
            Stream::Unix(s) => (Arc::new(s.into_std()?.into()), false),
        })
    }

    /// Closes the socket with `SO_LINGER {1, 0}`: a TCP peer sees a reset, not an EOF, so it
    /// cannot take a cut-off stream for a complete one. (A Unix stream peer sees an EOF.)
    pub fn abort(self) {
        if let Stream::Tcp(s) = &self {
            let _ = rustix::net::sockopt::set_socket_linger(s, Some(Duration::ZERO));
        }
    }
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

    /// A connection the io_uring accepted on this listener (non-blocking already), and a
    /// name for its peer.
    fn adopt(&self, fd: OwnedFd) -> io::Result<(Stream, String)> {
        match self {
            Listener::Tcp(_) => {
                let s = TcpStream::from_std(std::net::TcpStream::from(fd))?;
                let _ = s.set_nodelay(true);
                // A client that reset at once has no address any more (ENOTCONN): its
                // connection fails in the handler, like any other reset.
                let peer = s
                    .peer_addr()
                    .map_or_else(|_| "?".to_string(), |a| a.to_string());
                Ok((Stream::Tcp(s), peer))
            }
            Listener::Unix(_) => {
                let s = UnixStream::from_std(std::os::unix::net::UnixStream::from(fd))?;
                Ok((Stream::Unix(s), "unix".to_string()))
            }
        }
    }

    fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Listener::Tcp(l) => l.as_fd(),
            Listener::Unix(l) => l.as_fd(),
        }
    }

    /// A multishot accept on this listener through `reactor`, which holds a duplicate of its
    /// descriptor until the accept's last completion.
    fn accept_multishot(&self, reactor: &Arc<Reactor>) -> io::Result<Accepts> {
        let dup = rustix::io::fcntl_dupfd_cloexec(self.fd(), 0)?;
        Ok(reactor.accept_multishot(Arc::new(dup)))
    }

    /// Whether a client waits in the backlog.
    fn has_client(&self) -> bool {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let fd = self.fd();
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        poll(&mut fds, Some(&now)).is_ok_and(|n| n > 0)
    }
}

/// Where a worker's connections come from: tokio's accept (an `accept4` per connection), or
/// with the io_uring engine a multishot accept (one entry for all of them), armed on first
/// use and again after it ends.
enum Source {
    Tokio,
    Uring(Arc<Reactor>, Option<Accepts>),
}

impl Source {
    /// How `listener`'s connections are taken. A multishot accept is armed here, before the
    /// worker says it is ready: what a ready relay holds does not change after. A multishot
    /// accept keeps taking connections while a worker waits for a --max-conns slot, where
    /// tokio's leaves them in the backlog: it is used where no such wait can be. Not on a
    /// Unix socket path: the entry holds the listener until the ring is torn down, 4-10 ms
    /// after a SIGKILL here, and a relay started at once on that path would find it still
    /// answering (the stale-file check) where tokio's listener dies with the process.
    fn new(listener: &Listener, cfg: &Config, reactor: Option<&Arc<Reactor>>) -> Source {
        let tcp = matches!(listener, Listener::Tcp(_));
        match reactor {
            Some(r) if tcp && (cfg.limit.is_none() || cfg.refuse_excess) => {
                Source::Uring(r.clone(), listener.accept_multishot(r).ok())
            }
            _ => Source::Tokio,
        }
    }

    /// The next connection and a name for its peer.
    async fn next(&mut self, listener: &Listener) -> io::Result<(Stream, String)> {
        let Source::Uring(reactor, multi) = self else {
            return listener.accept().await;
        };
        loop {
            let accepts = match multi {
                Some(a) => a,
                None => multi.insert(listener.accept_multishot(reactor)?),
            };
            match accepts.next().await {
                Ok(Some(fd)) => return listener.adopt(fd),
                // Ended without an error (the kernel stops a multishot accept whose
                // completion queue overflowed): armed again.
                Ok(None) => *multi = None,
                Err(e) => {
                    *multi = None;
                    if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) {
                        // A kernel without multishot accept (before 5.19): tokio's from now.
                        *self = Source::Tokio;
                        return listener.accept().await;
                    }
                    return Err(e);
                }
            }
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
/// period and cuts the rest (each logs its line); returns how many it cut.
/// `ready` is dropped once the listener is registered (or the worker failed).
pub fn worker(
    l: Bound,
    cfg: &Arc<Config>,
    stop: watch::Receiver<bool>,
    ready: std::sync::mpsc::Sender<()>,
) -> usize {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("relay: runtime: {}", strerror(&e));
            return 0;
        }
    };
    rt.block_on(async {
        let listener = match Listener::register(l) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("relay: listen: {}", strerror(&e));
                return 0;
            }
        };
        let reactor = match cfg.engine {
            Engine::Uring => match Reactor::new(256) {
                Ok(r) => Some(r),
                Err(e) => {
                    let e = strerror(&e);
                    eprintln!("relay: io_uring unavailable ({e}): this worker uses epoll");
                    None
                }
            },
            Engine::Epoll => None,
        };
        let source = Source::new(&listener, cfg, reactor.as_ref());
        // Spares are duplicates of this (not of the listener: a connection holding one would
        // keep the listener open after the worker stops). Opened before the worker says it
        // is ready: what a ready relay holds does not change after.
        let null = std::fs::File::open("/dev/null").map(OwnedFd::from);
        drop(ready);
        let mut conns = JoinSet::new();
        let (cut_tx, cut) = watch::channel(false);
        let how = Accepting {
            listener: &listener,
            source,
            null,
        };
        accept_loop(how, cfg, reactor, stop, &cut, &mut conns).await;
        drop(listener);
        let all = async { while conns.join_next().await.is_some() {} };
        if tokio::time::timeout(cfg.grace, all).await.is_ok() {
            return 0;
        }
        // Each connection still open ends at once with its log line and resets.
        while conns.try_join_next().is_some() {}
        let n = conns.len();
        let _ = cut_tx.send(true);
        let all = async { while conns.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(1), all)
            .await
            .is_err()
        {
            conns.shutdown().await;
        }
        let g = cfg.grace;
        eprintln!("relay: {n} connection(s) cut at the end of the {g:?} grace period");
        n
    })
}

/// Where a worker's connections come from, and what its spare descriptors are copies of.
struct Accepting<'a> {
    listener: &'a Listener,
    source: Source,
    null: io::Result<OwnedFd>,
}

async fn accept_loop(
    how: Accepting<'_>,
    cfg: &Arc<Config>,
    reactor: Option<Arc<Reactor>>,
    mut stop: watch::Receiver<bool>,
    cut: &watch::Receiver<bool>,
    conns: &mut JoinSet<()>,
) {
    // Out of descriptors: said once until a client is handed on again, retried every 50 ms
    // meanwhile (the kernel keeps a connection it could not accept in the backlog).
    let mut short = false;
    let Accepting {
        listener,
        mut source,
        null,
    } = how;
    loop {
        while conns.try_join_next().is_some() {}
        let accepted = tokio::select! {
            r = source.next(listener) => r,
            _ = stop.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            // Idle pooled pipes hold descriptors no connection uses: those first.
            Err(e) if short_of_descriptors(&e) && release_idle_pipes() > 0 => continue,
            Err(e) if short_of_descriptors(&e) => {
                // An accept fails so with no client waiting too: said only when one is.
                if !short && listener.has_client() {
                    eprintln!("relay: accept: {}", strerror(&e));
                    short = true;
                }
                // Again when a connection of this worker ends, freeing its descriptors.
                tokio::select! {
                    _ = tokio::time::sleep(RETRY) => continue,
                    Some(_) = conns.join_next(), if !conns.is_empty() => continue,
                    _ = stop.changed() => return,
                }
            }
            Err(e) => {
                eprintln!("relay: accept: {}", strerror(&e));
                // A connection aborted before it was taken: on with the next. Anything else
                // (a broken ring, say) may well come back at once: not in a hot loop.
                if e.raw_os_error() != Some(rustix::io::Errno::CONNABORTED.raw_os_error()) {
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY) => {}
                        _ = stop.changed() => return,
                    }
                }
                continue;
            }
        };
        // A descriptor held for its upstream socket, or it waits here with the rest in the
        // backlog: a client accepted into the last free descriptor would otherwise be reset
        // when its upstream connect fails for want of one. Not for ever: reset when none came
        // within --connect-timeout, or at once when this worker has no connection whose end
        // would free one (clients a multishot accept took could hold them all).
        let t0 = Instant::now();
        let spare = loop {
            let dup = match &null {
                Ok(fd) => rustix::io::fcntl_dupfd_cloexec(fd, 0),
                Err(_) => rustix::io::fcntl_dupfd_cloexec(listener.fd(), 0),
            };
            let e = match dup {
                Ok(fd) => break Some(fd),
                // Idle pooled pipes hold descriptors no connection uses: those first.
                Err(_) if release_idle_pipes() > 0 => continue,
                Err(e) => strerror(&e.into()),
            };
            if conns.is_empty() || t0.elapsed() >= cfg.connect_timeout {
                eprintln!("relay: {peer}: no descriptor for its upstream: {e}");
                break None;
            }
            if !std::mem::replace(&mut short, true) {
                eprintln!("relay: {peer}: waiting for a descriptor for its upstream: {e}");
            }
            tokio::select! {
                _ = tokio::time::sleep(RETRY) => {}
                Some(_) = conns.join_next() => {}
                _ = stop.changed() => return stream.abort(),
            }
        };
        let Some(spare) = spare else {
            cfg.metrics.failed_relay.fetch_add(1, Relaxed);
            stream.abort();
            continue;
        };
        short = false;
        // A slot for it: waited for (this worker accepts nothing more meanwhile, so further
        // connections stay in the backlog, and a worker whose backlog is empty holds no
        // slot), or with --refuse-excess taken at once or the connection closed.
        let permit = match (&cfg.limit, cfg.refuse_excess) {
            (None, _) => None,
            (Some(limit), false) => tokio::select! {
                p = limit.clone().acquire_owned() => p.ok(),
                _ = stop.changed() => return stream.abort(),
            },
            (Some(limit), true) => match limit.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    cfg.metrics.refused.fetch_add(1, Relaxed);
                    eprintln!("relay: {peer}: refused: --max-conns connections are open");
                    continue;
                }
            },
        };
        let cfg = cfg.clone();
        let reactor = reactor.clone();
        conns.spawn(handle(
            stream,
            peer,
            spare,
            cfg,
            reactor,
            cut.clone(),
            permit,
        ));
    }
}

/// Closes the idle pipes of the pool the relay's connections take theirs from; how many.
fn release_idle_pipes() -> usize {
    splicekit::tokio::Options::default().pool.release_idle()
}

/// How long a worker short of descriptors waits before it tries again.
const RETRY: Duration = Duration::from_millis(50);

/// Whether `e` is the process or the system short of descriptors, or of the memory for a
/// socket: the relay's own condition, which passes as connections close, not the peer's.
fn short_of_descriptors(e: &io::Error) -> bool {
    use rustix::io::Errno;
    [Errno::MFILE, Errno::NFILE, Errno::NOBUFS, Errno::NOMEM]
        .iter()
        .any(|x| e.raw_os_error() == Some(x.raw_os_error()))
}

/// Counts a connection as active until dropped.
struct Active<'a>(&'a std::sync::atomic::AtomicU64);

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

async fn handle(
    client: Stream,
    peer: String,
    spare: OwnedFd,
    cfg: Arc<Config>,
    reactor: Option<Arc<Reactor>>,
    cut: watch::Receiver<bool>,
    _slot: Option<OwnedSemaphorePermit>,
) {
    let t0 = Instant::now();
    let m = &cfg.metrics;
    m.accepted.fetch_add(1, Relaxed);
    m.active.fetch_add(1, Relaxed);
    let _active = Active(&m.active);
    let mut stop = std::pin::pin!(stop_when(&cfg, t0, cut));
    let (mut client, mut peer, mut origin) = (client, peer, None);
    if cfg.accept_proxy {
        match read_origin(&mut client, &cfg, stop.as_mut()).await {
            Ok(o) => origin = o,
            Err(why) => {
                m.failed_client.fetch_add(1, Relaxed);
                client.abort();
                return eprintln!("relay: {peer}: PROXY header: {why}");
            }
        }
        // The client's name in the log is the one the header gave.
        if let Some((src, _)) = origin {
            peer = src.to_string();
        }
    }
    let origin = origin.or_else(|| client.origin());
    // Its slot, for the upstream socket.
    drop(spare);
    let (i, mut upstream) = match connect_any(&cfg, &peer, stop.as_mut()).await {
        Ok(x) => x,
        Err(side) => {
            side.fetch_add(1, Relaxed);
            return client.abort();
        }
    };
    let open = cfg.upstream.connected(i);
    m.upstreams[i].connections.fetch_add(1, Relaxed);
    let to = cfg.upstream.at(i);
    if let Some(v) = cfg.send_proxy {
        if let Err(e) = upstream.send_proxy(origin, v).await {
            client.abort();
            upstream.abort();
            return eprintln!(
                "relay: {peer}: upstream {to}: PROXY header: {}",
                strerror(&e)
            );
        }
    }
    let stop = stop.as_mut();
    let o = match reactor {
        // Closes both sockets itself.
        Some(r) if cfg.how == How::Splice => pump_uring(&r, client, upstream, &cfg, stop).await,
        _ => {
            let o = match (&mut client, &mut upstream) {
                (Stream::Tcp(a), Stream::Tcp(b)) => pump(a, b, &cfg, stop).await,
                (Stream::Tcp(a), Stream::Unix(b)) => pump(a, b, &cfg, stop).await,
                (Stream::Unix(a), Stream::Tcp(b)) => pump(a, b, &cfg, stop).await,
                (Stream::Unix(a), Stream::Unix(b)) => pump(a, b, &cfg, stop).await,
            };
            // Closed before the log line is written: whoever reads it finds them gone.
            if o.error.is_some() {
                client.abort();
                upstream.abort();
            } else {
                drop((client, upstream));
            }
            o
        }
    };
    drop(open);
    let secs = t0.elapsed().as_secs_f64();
    let (up, down) = (o.up, o.down);
    m.bytes_up.fetch_add(up, Relaxed);
    m.bytes_down.fetch_add(down, Relaxed);
    let by = if o.path.contains("copy") {
        &m.by_copy
    } else {
        &m.by_splice
    };
    by.fetch_add(1, Relaxed);
    match o.error.as_deref() {
        Some(e) if e.starts_with("client:") => m.failed_client.fetch_add(1, Relaxed),
        Some(e) if e.starts_with("upstream:") => m.failed_upstream.fetch_add(1, Relaxed),
        _ => 0,
    };
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

/// The client's PROXY header, read within --connect-timeout (or until `stop`).
async fn read_origin<S>(
    client: &mut Stream,
    cfg: &Config,
    stop: Pin<&mut S>,
) -> Result<proxy::Origin, String>
where
    S: std::future::Future<Output = io::Error>,
{
    let t = cfg.connect_timeout;
    let reading = tokio::time::timeout(t, client.accept_proxy());
    tokio::select! {
        r = reading => r.unwrap_or_else(|_| Err(format!("timed out after {t:?}"))),
        e = stop => Err(e.to_string()),
    }
}

/// Connects to the upstreams in the pool's order until one answers (each failure logged, an
/// upstream that was up marked down); which one, or the counter of the side that failed when
/// none did or `stop` came (the relay's, when it had no descriptor for the socket).
async fn connect_any<'c, S>(
    cfg: &'c Config,
    peer: &str,
    mut stop: Pin<&mut S>,
) -> Result<(usize, Stream), &'c std::sync::atomic::AtomicU64>
where
    S: std::future::Future<Output = io::Error>,
{
    let order = cfg.upstream.order(Instant::now());
    for (k, &i) in order.iter().enumerate() {
        let to = cfg.upstream.at(i);
        // The relay's own shortage of descriptors (its spare taken by another accept in
        // the moment it was closed): tried again as connections end, within the timeout.
        let mut short = None;
        let connecting = tokio::time::timeout(cfg.connect_timeout, async {
            loop {
                match connect(to).await {
                    Err(e) if short_of_descriptors(&e) => {
                        short = Some(e);
                        if release_idle_pipes() == 0 {
                            tokio::time::sleep(RETRY).await;
                        }
                    }
                    r => return r,
                }
            }
        });
        let r = tokio::select! {
            r = connecting => r,
            e = stop.as_mut() => {
                eprintln!("relay: {peer}: upstream {to}: connect: {e}");
                return Err(&cfg.metrics.failed_upstream);
            }
        };
        let why = match (r, short) {
            (Ok(Ok(s)), _) => return Ok((i, s)),
            (Ok(Err(e)), _) => strerror(&e),
            // It says nothing of the upstream, nor would the next one fare better.
            (Err(_), Some(e)) => {
                eprintln!("relay: {peer}: upstream {to}: connect: {}", strerror(&e));
                return Err(&cfg.metrics.failed_relay);
            }
            (Err(_), None) => format!("timed out after {:?}", cfg.connect_timeout),
        };
        let down = match cfg.upstream.failed(i, Instant::now()) {
            Some(d) => format!(" (down for {d:?})"),
            None => String::new(),
        };
        let next = if k + 1 < order.len() {
            "; trying the next"
        } else {
            ""
        };
        eprintln!("relay: {peer}: upstream {to}: connect: {why}{down}{next}");
    }
    Err(&cfg.metrics.failed_upstream)
}

/// Completes (with the reason) when the connection must end whatever it is doing: its
/// --max-lifetime ran out, or the worker cuts it at the end of the grace period.
async fn stop_when(cfg: &Config, t0: Instant, mut cut: watch::Receiver<bool>) -> io::Error {
    let life = async {
        match cfg.max_lifetime {
            Some(d) => tokio::time::sleep_until((t0 + d).into()).await,
            None => std::future::pending().await,
        }
    };
    let cut = async {
        if cut.wait_for(|&c| c).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = life => {
            let d = cfg.max_lifetime.unwrap_or_default();
            io::Error::new(io::ErrorKind::TimedOut, format!("open longer than --max-lifetime {d:?}"))
        }
        () = cut => io::Error::other(format!("cut at the end of the {:?} grace period", cfg.grace)),
    }
}
