//! `splice relay LISTEN UPSTREAM...`: a TCP (or Unix stream socket) proxy whose connections
//! move bytes socket → pipe → socket with `splicekit::tokio::relay`, spread over one or more
//! upstreams (`balance.rs`), with the PROXY protocol either side (`proxy.rs`).
//!
//! `-j N` runs N threads (by default one per CPU the process may run on), each with its own
//! single-threaded runtime and, for TCP, its own listening socket bound with `SO_REUSEPORT`,
//! so the kernel spreads connections across them.
//! SIGINT/SIGTERM stop accepting; open connections get `--grace` to finish; a second signal
//! exits at once.

mod addr;
mod balance;
mod metrics;
mod proxy;
mod pump;
mod serve;

use std::ffi::OsString;
use std::sync::Arc;
use std::time::Duration;

use clap::{CommandFactory, Parser, ValueEnum};

use crate::util::strerror;
use addr::{Endpoint, Listen};
use balance::{Balance, Pool};

#[derive(Parser, Debug)]
#[command(
    version,
    name = "splice relay",
    about = "Relay TCP or Unix stream connections from LISTEN to UPSTREAM without copying",
    override_usage = "splice relay [OPTIONS] LISTEN UPSTREAM [UPSTREAM...]",
    after_help = "Addresses: PORT (on 127.0.0.1), HOST:PORT, [IPv6]:PORT or unix:/path.\n\
                  Durations: 500ms, 30s, 2m, or a number of seconds.\n\
                  A connection that ends on an error (a reset or broken pipe on either side, a \
                  timeout, a refused or timed-out connect upstream, --max-lifetime, a cut at \
                  the end of --grace) is closed with a reset (SO_LINGER 0) on the TCP sides \
                  still open, so no peer takes a cut-off stream for a complete one."
)]
pub(crate) struct Args {
    /// Where to accept connections (PORT listens on loopback only). When a service manager
    /// passes listening sockets (systemd socket activation: LISTEN_PID is this process,
    /// LISTEN_FDS >= 1) those are used instead, and LISTEN may be `-`.
    listen: String,
    /// Where to connect for each accepted connection. Several: chosen by --balance; one
    /// that refuses or times out is skipped for a back-off (2 s, doubling on each failure
    /// after it up to 30 s, forgotten on a success) and the connection tried on the next
    /// (no client byte has been relayed yet; a --send-proxy header goes to the one that
    /// answers); when every one is down each is still tried, and the client is reset if
    /// none answers. --log names the upstream each connection used.
    #[arg(required = true, value_name = "UPSTREAM")]
    upstream: Vec<String>,
    /// Which upstream a connection tries first: each in turn, the first up in the order
    /// given, or the one with the fewest open connections.
    #[arg(long, value_enum, default_value = "roundrobin")]
    balance: Balance,
    /// At most this many connections at once (0: no limit).
    #[arg(long, default_value_t = 0)]
    max_conns: usize,
    /// With --max-conns: close excess connections at once instead of leaving them queued.
    #[arg(long)]
    refuse_excess: bool,
    /// Close a connection when no byte moved either way for this long (0 is refused: leave
    /// the option out for no idle timeout).
    #[arg(long, value_parser = parse_duration)]
    idle_timeout: Option<Duration>,
    /// Close (reset) a connection open this long, whatever it is doing (counted from when its
    /// upstream connect starts). A slow client trickling a byte now and then never trips --idle-timeout, and with
    /// --max-conns would hold its slot forever; this bounds it (HAProxy's `timeout tunnel`).
    #[arg(long, value_parser = parse_duration)]
    max_lifetime: Option<Duration>,
    /// Give up connecting upstream after this long (more than 0); with --accept-proxy, also
    /// how long a client has to send its PROXY header.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    connect_timeout: Duration,
    /// Worker threads (SO_REUSEPORT listeners for TCP); at least 1 [default: the number of
    /// CPUs this process may run on, from sched_getaffinity and the cgroup's CPU quota].
    #[arg(short = 'j', long = "jobs")]
    jobs: Option<usize>,
    /// After SIGINT/SIGTERM, how long open connections may take to finish; the rest are cut
    /// (reset), each with its log line, and the relay exits with status 1.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    grace: Duration,
    /// Send a PROXY protocol v1 header (`PROXY TCP4 SRC DST SPORT DPORT`, `PROXY UNKNOWN`
    /// for a Unix client) to the upstream ahead of each connection's bytes.
    #[arg(long, conflicts_with = "send_proxy_v2")]
    send_proxy: bool,
    /// Send a PROXY protocol v2 (binary) header; a Unix client gets the LOCAL command.
    #[arg(long)]
    send_proxy_v2: bool,
    /// Read a PROXY protocol v1 or v2 header from each client (a load balancer in front)
    /// before relaying: the source it names is the client in --log and in --send-proxy[-v2]
    /// (so relays chain). Strict: a missing or malformed header, or none complete within
    /// --connect-timeout, closes the connection with a line on stderr. A v1 UNKNOWN, a v2
    /// LOCAL (the balancer's health check) or a v2 Unix/UNSPEC address means the
    /// connection's own addresses.
    #[arg(long)]
    accept_proxy: bool,
    /// Serve the relay's counters as Prometheus text at http://ADDR/metrics (HOST:PORT or
    /// PORT on 127.0.0.1): connections accepted, active, refused, failed by side, bytes each
    /// way, splice or copy, each upstream up or down. SIGUSR1 prints the same on stderr, with
    /// or without this option.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<String>,
    /// Log one line per connection on stderr (bytes each way, duration, path).
    #[arg(long)]
    log: bool,
    /// How connections move bytes: splice, or tokio::io::copy_bidirectional (the baseline).
    #[arg(long, value_enum, default_value = "splice")]
    strategy: How,
    /// What drives the splices of --strategy splice: epoll (tokio's reactor; each splice a
    /// system call made when the socket is ready) or uring (one io_uring per worker: each
    /// splice an IORING_OP_SPLICE entry, run on the kernel's io_uring worker threads, and
    /// each wait after EAGAIN an IORING_OP_POLL_ADD). Same options, logs and behaviour.
    /// Where no ring can be set up (ENOSYS, EPERM, kernel.io_uring_disabled) the relay says
    /// so on stderr and runs epoll.
    #[arg(long, value_enum, default_value = "epoll")]
    engine: Engine,
    /// Broker pipe size per direction (K, M suffixes).
    #[arg(long, default_value = "1M", value_parser = |s: &str| crate::util::size_arg("size", s))]
    pipe_size: u64,
}

/// How a connection's bytes move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum How {
    /// `splicekit::tokio::relay`: socket → pipe → socket.
    Splice,
    /// `tokio::io::copy_bidirectional`: 8 KiB buffers in user space.
    Copy,
}

/// What drives a connection's splices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    /// tokio's epoll reactor: `splicekit::tokio::relay_until`.
    Epoll,
    /// io_uring, one ring per worker: `splicekit::uring::relay_until`.
    Uring,
}

/// What every worker needs.
pub struct Config {
    pub upstream: Pool,
    pub limit: Option<Arc<tokio::sync::Semaphore>>,
    pub refuse_excess: bool,
    pub idle_timeout: Option<Duration>,
    pub max_lifetime: Option<Duration>,
    pub connect_timeout: Duration,
    pub grace: Duration,
    pub log: bool,
    pub how: How,
    pub engine: Engine,
    pub pipe_size: usize,
    /// The PROXY protocol header to send upstream, if any.
    pub send_proxy: Option<proxy::Version>,
    /// Read a PROXY protocol header from each client first.
    pub accept_proxy: bool,
    /// The counters `--metrics` and SIGUSR1 show.
    pub metrics: metrics::Metrics,
}

impl Config {
    /// Whether each upstream takes connections now.
    fn ups(&self) -> Vec<bool> {
        let now = std::time::Instant::now();
        (0..self.upstream.len())
            .map(|i| self.upstream.is_up(i, now))
            .collect()
    }
}

pub fn main(args: &[OsString]) -> u8 {
    let argv = std::iter::once(OsString::from("splice relay")).chain(args.iter().cloned());
    let a = match Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    if let Err(msg) = check(&a) {
        let e = Args::command().error(clap::error::ErrorKind::ArgumentConflict, msg);
        let _ = e.print();
        return 2;
    }
    match run(a) {
        // Connections were cut at the end of the grace period.
        Ok(cut) if cut > 0 => 1,
        Ok(_) => 0,
        Err(e) => {
            eprintln!("relay: {e}");
            1
        }
    }
}

/// Settings that cannot work, refused before anything starts, as clap refuses a bad value.
fn check(a: &Args) -> Result<(), String> {
    if a.idle_timeout == Some(Duration::ZERO) {
        return Err("--idle-timeout 0 would close every connection at once \
                    (leave the option out for no idle timeout)"
            .into());
    }
    if a.max_lifetime == Some(Duration::ZERO) {
        return Err("--max-lifetime 0 would close every connection at once".into());
    }
    if a.connect_timeout.is_zero() {
        return Err("--connect-timeout 0 would fail every connection".into());
    }
    if a.idle_timeout.is_some() && a.strategy == How::Copy {
        return Err("--idle-timeout needs --strategy splice".into());
    }
    if a.engine == Engine::Uring && a.strategy == How::Copy {
        return Err("--engine uring needs --strategy splice".into());
    }
    if a.refuse_excess && a.max_conns == 0 {
        return Err("--refuse-excess needs --max-conns N with N > 0".into());
    }
    if a.jobs == Some(0) {
        return Err("-j 0: a relay needs at least one worker".into());
    }
    for up in &a.upstream {
        if let Some(me) = Listen::parse(&a.listen).ok().and_then(|l| l.loop_in(up)) {
            return Err(format!(
                "UPSTREAM '{up}' is the LISTEN address itself ({me}): every connection \
                 would be relayed back into the relay"
            ));
        }
    }
    Ok(())
}

/// Runs the relay until it is stopped; how many connections were cut when it stopped.
fn run(a: Args) -> Result<usize, String> {
    let jobs = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    // Before any thread starts: this removes the LISTEN_* variables from the environment.
    let activated = addr::activated(jobs)?;
    let mut listen = match (&activated, a.listen.as_str()) {
        (Some(_), _) => None,
        (None, "-") => {
            return Err(
                "LISTEN '-' means the sockets a service manager passes, and none \
                        were passed (LISTEN_FDS, LISTEN_PID)"
                    .into(),
            )
        }
        (None, l) => Some(Listen::parse(l)?),
    };
    let upstream = a.upstream.iter().map(|u| Endpoint::parse(u));
    let upstream = Pool::new(upstream.collect::<Result<_, _>>()?, a.balance);
    let counters = metrics::Metrics::new(a.upstream.iter().cloned());
    // Bound before anything starts, so a bad ADDR fails at once.
    let metrics_at = match &a.metrics {
        Some(m) => {
            let at = if m.chars().all(|c| c.is_ascii_digit()) {
                format!("127.0.0.1:{m}")
            } else {
                m.clone()
            };
            let l = std::net::TcpListener::bind(&at)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .map_err(|e| format!("--metrics {m}: {}", strerror(&e)))?;
            Some(l)
        }
        None => None,
    };
    raise_fd_limit();
    let engine = match a.engine {
        Engine::Uring => match splicekit::uring::Ring::new(8) {
            Ok(_) => Engine::Uring,
            Err(e) => {
                eprintln!(
                    "relay: io_uring unavailable ({}): using the epoll engine",
                    strerror(&e)
                );
                Engine::Epoll
            }
        },
        Engine::Epoll => Engine::Epoll,
    };
    // Signal handlers first: a SIGINT arriving once the listening line is out must stop
    // the relay gracefully, not kill it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {}", strerror(&e)))?;
    let (signals, usr1) = {
        let _in_rt = rt.enter();
        let usr1 = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1());
        (
            Signals::new().map_err(|e| format!("signal: {}", strerror(&e)))?,
            usr1.map_err(|e| format!("signal: {}", strerror(&e)))?,
        )
    };
    let listeners = match (activated, &mut listen) {
        (Some(v), _) => v,
        (None, Some(l)) => l
            .bind(jobs)
            .map_err(|e| format!("{}: {}", a.listen, strerror(&e)))?,
        (None, None) => unreachable!("LISTEN is parsed when no socket was passed"),
    };
    let name = listeners[0].local_name();
    let cfg = Arc::new(Config {
        upstream,
        limit: (a.max_conns > 0).then(|| Arc::new(tokio::sync::Semaphore::new(a.max_conns))),
        refuse_excess: a.refuse_excess,
        idle_timeout: a.idle_timeout,
        max_lifetime: a.max_lifetime,
        connect_timeout: a.connect_timeout,
        grace: a.grace,
        log: a.log,
        how: a.strategy,
        engine,
        pipe_size: usize::try_from(a.pipe_size).unwrap_or(usize::MAX),
        send_proxy: match (a.send_proxy, a.send_proxy_v2) {
            (true, _) => Some(proxy::Version::V1),
            (_, true) => Some(proxy::Version::V2),
            _ => None,
        },
        accept_proxy: a.accept_proxy,
        metrics: counters,
    });
    // SIGUSR1 and --metrics run on this thread's runtime, beside the supervisor.
    let c = cfg.clone();
    let summary: Arc<dyn Fn() -> String + Send + Sync> =
        Arc::new(move || c.metrics.summary(&c.ups()));
    rt.spawn(metrics::on_sigusr1(usr1, summary));
    if let Some(l) = metrics_at {
        let _in_rt = rt.enter();
        let l = tokio::net::TcpListener::from_std(l)
            .map_err(|e| format!("--metrics: {}", strerror(&e)))?;
        let c = cfg.clone();
        rt.spawn(metrics::serve(
            l,
            Arc::new(move || c.metrics.render(&c.ups())),
        ));
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (ready_tx, ready) = std::sync::mpsc::channel::<()>();
    let workers: Vec<_> = listeners
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            let (cfg, stop, ready) = (cfg.clone(), stop_rx.clone(), ready_tx.clone());
            std::thread::Builder::new()
                .name(format!("relay-{i}"))
                .spawn(move || serve::worker(l, &cfg, stop, ready))
                .map_err(|e| format!("thread: {}", strerror(&e)))
        })
        .collect::<Result<_, _>>()?;
    // The line says the relay is ready: every worker has its runtime and its listener (a
    // worker that failed has said why and dropped its sender).
    drop(ready_tx);
    while ready.recv().is_ok() {}
    if a.log {
        let by = match cfg.engine {
            Engine::Uring => " (io_uring engine)",
            Engine::Epoll => "",
        };
        eprintln!("relay: listening on {name} -> {}{by}", cfg.upstream);
    }
    let cut = rt.block_on(supervise(workers, stop_tx, signals));
    // Only a socket file the relay bound itself: a passed one belongs to the service manager.
    if let Some(l) = listen {
        l.cleanup();
    }
    Ok(cut)
}

/// SIGINT and SIGTERM, caught.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers; needs a runtime entered.
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }
}

/// Waits for the workers to end (they end only after a stop) or for SIGINT/SIGTERM: the first
/// signal stops accepting, a second one exits at once. Returns how many connections the
/// workers cut.
async fn supervise(
    workers: Vec<std::thread::JoinHandle<usize>>,
    stop: tokio::sync::watch::Sender<bool>,
    mut sig: Signals,
) -> usize {
    let mut done = tokio::task::spawn_blocking(move || {
        workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
    });
    let mut stopping = false;
    loop {
        tokio::select! {
            cut = &mut done => return cut.unwrap_or(0),
            _ = sig.int.recv() => {}
            _ = sig.term.recv() => {}
        }
        if stopping {
            std::process::exit(130);
        }
        stopping = true;
        let _ = stop.send(true);
    }
}

/// Lifts the soft descriptor limit to the hard one: each connection holds two sockets and two
/// pipes (six descriptors), so the usual 1024 would cap a relay at ~170 connections.
fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut l = getrlimit(Resource::Nofile);
    if l.current < l.maximum {
        l.current = l.maximum;
        let _ = setrlimit(Resource::Nofile, l);
    }
}

/// `500ms`, `30s`, `2m`, `1h`, or a number of seconds (fractions allowed).
fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let scale = match unit {
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("invalid duration '{s}' (use ms, s, m or h)")),
    };
    match num.parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(Duration::from_secs_f64(n * scale)),
        _ => Err(format!("invalid duration '{s}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("").is_err());
    }
}
