//! The relay cases: clients → `splice relay` (a child process) → a sink, over 127.0.0.1, with
//! one stream and with 64 at once; the same relay binary run with `--strategy copy`
//! (`tokio::io::copy_bidirectional`) is the baseline. CPU is the relay process's own
//! (utime + stime from /proc), read before and after each run.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Sample;

/// The relay cases by name and stream count.
pub const CASES: [(&str, usize); 2] = [("relay-1", 1), ("relay-64", 64)];

pub const ABOUT: &str = "client threads sendfile() a 1 MiB memfd to the relay (-j CPUs) on 127.0.0.1; the sink splices each connection to /dev/null; CPU = the relay process (its io_uring workers included) and its children";

/// The relays compared, baseline first; socat joins when it is installed (scripts/peers.sh
/// installs it), with its default 8 KiB buffer and a listen backlog of 1024 (its default of 5
/// resets some of 64 simultaneous connects).
pub fn methods() -> Vec<(&'static str, &'static str)> {
    let mut m = vec![
        ("tokio copy_bidirectional", "copy"),
        ("splice relay", "splice"),
        // The same relay with its splices run by io_uring (`--engine uring`).
        ("splice relay, io_uring", "splice-uring"),
        // The operator's setup: a PROXY v2 header to each of three upstreams in turn (the
        // same sink three times, so the bytes are counted in one place).
        ("splice relay, PROXY v2, 3 ups", "splice-proxy3"),
    ];
    if have("socat", "-V") {
        m.push(("socat (default 8 KiB)", "socat"));
    }
    // HAProxy in TCP mode, what an operator would run instead: with splice both ways
    // (splice-auto, splice-request, splice-response and 1 MiB pipes: its best here) and
    // without (nosplice).
    if have("haproxy", "-v") {
        m.push(("haproxy splice, 1M pipes", "haproxy-splice"));
        m.push(("haproxy, no splice", "haproxy-nosplice"));
        m.push(("haproxy splice, PROXY v2, 3 ups", "haproxy-proxy3"));
    }
    m
}

fn have(tool: &str, version: &str) -> bool {
    Command::new(tool)
        .arg(version)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// An HAProxy configuration: TCP mode from `port` to `sink`, one thread per CPU.
fn haproxy_config(port: u16, sink: SocketAddr, jobs: usize, how: &str) -> String {
    let servers = if how == "proxy3" {
        (1..=3)
            .map(|i| format!("    server s{i} {sink} send-proxy-v2\n"))
            .collect::<String>()
    } else {
        format!("    server s {sink}\n")
    };
    let (global, option) = if how != "nosplice" {
        (
            "    tune.pipesize 1048576\n",
            "    option splice-auto\n    option splice-request\n    option splice-response\n",
        )
    } else {
        ("    nosplice\n", "")
    };
    format!(
        "global\n    nbthread {jobs}\n    maxconn 4096\n{global}\
         defaults\n    mode tcp\n    timeout connect 10s\n    timeout client 1m\n    \
         timeout server 1m\n{option}\
         frontend f\n    bind 127.0.0.1:{port}\n    default_backend b\n\
         backend b\n    balance roundrobin\n{servers}"
    )
}

/// A sink server: drains every connection to /dev/null by splice, counting bytes.
pub struct Sink {
    pub addr: SocketAddr,
    got: Arc<AtomicU64>,
}

impl Sink {
    pub fn start() -> io::Result<Sink> {
        let l = TcpListener::bind("127.0.0.1:0")?;
        let addr = l.local_addr()?;
        let got = Arc::new(AtomicU64::new(0));
        let g = got.clone();
        std::thread::spawn(move || {
            for s in l.incoming().map_while(Result::ok) {
                let g = g.clone();
                std::thread::spawn(move || {
                    let null = std::fs::OpenOptions::new().write(true).open("/dev/null");
                    if let Ok(null) = null {
                        let opts = splicekit::CopyOptions::zero_copy();
                        let n = splicekit::copy_with(&s, &null, &opts).map_or(0, |r| r.bytes);
                        g.fetch_add(n, Ordering::SeqCst);
                    }
                });
            }
        });
        Ok(Sink { addr, got })
    }
}

/// A `splice relay` child process in front of the sink.
pub struct RelayProc {
    child: Child,
    addr: SocketAddr,
    /// HAProxy's configuration file, kept until the process is gone, then removed.
    _config: Option<tempfile::NamedTempFile>,
}

impl RelayProc {
    pub fn start(strategy: &str, sink: SocketAddr) -> io::Result<RelayProc> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        // One worker per CPU for both of ours, as socat's process per connection can use
        // every CPU too.
        let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut config = None;
        let child = if let Some(how) = strategy.strip_prefix("haproxy-") {
            let mut f = tempfile::NamedTempFile::new()?;
            std::io::Write::write_all(&mut f, haproxy_config(port, sink, jobs, how).as_bytes())?;
            let child = Command::new("haproxy")
                .args(["-db", "-q"])
                .arg("-f")
                .arg(f.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()?;
            config = Some(f);
            child
        } else if strategy == "socat" {
            Command::new("socat")
                .arg(format!(
                    "TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,backlog=1024"
                ))
                .arg(format!("TCP:{sink}"))
                .stdin(Stdio::null())
                .spawn()?
        } else {
            let (how, proxy3) = match strategy.strip_suffix("-proxy3") {
                Some(how) => (how, true),
                None => (strategy, false),
            };
            let (how, engine) = match how.strip_suffix("-uring") {
                Some(how) => (how, "uring"),
                None => (how, "epoll"),
            };
            let mut c = Command::new(std::env::current_exe()?);
            c.args(["relay", "-j", &jobs.to_string(), "--strategy", how])
                .args(["--engine", engine])
                .arg(addr.to_string())
                .arg(sink.to_string());
            if proxy3 {
                c.arg(sink.to_string())
                    .arg(sink.to_string())
                    .arg("--send-proxy-v2");
            }
            c.stdin(Stdio::null()).spawn()?
        };
        let t = Instant::now();
        while TcpStream::connect(addr).is_err() {
            if t.elapsed() > Duration::from_secs(10) {
                return Err(io::Error::other("relay did not start listening"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(RelayProc {
            child,
            addr,
            _config: config,
        })
    }

    /// The relay's user + system CPU time so far, with that of its reaped children (socat
    /// forks one per connection; it is waited for here until it has been reaped).
    fn cpu(&self) -> io::Result<Duration> {
        let pid = self.child.id();
        let t = Instant::now();
        while std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .is_ok_and(|c| !c.trim().is_empty())
            && t.elapsed() < Duration::from_secs(2)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // Fields after the command name (which ends with the last ')'): utime, stime, cutime
        // and cstime are the 12th to the 15th.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<u64> = rest
            .split_whitespace()
            .skip(11)
            .take(4)
            .filter_map(|x| x.parse().ok())
            .collect();
        let ticks = rustix::param::clock_ticks_per_second() as f64;
        Ok(Duration::from_secs_f64(
            f.iter().sum::<u64>() as f64 / ticks,
        ))
    }
}

impl Drop for RelayProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One run: `streams` clients send `size` bytes in all through `relay` into `sink`.
/// `lead`: bytes each connection carries before its payload (a PROXY header), waited for too.
pub fn measure(
    relay: &RelayProc,
    sink: &Sink,
    streams: usize,
    size: u64,
    lead: u64,
) -> io::Result<Sample> {
    let before = sink.got.load(Ordering::SeqCst);
    let c0 = relay.cpu()?;
    let t0 = Instant::now();
    let per = size / streams as u64;
    let clients: Vec<_> = (0..streams)
        .map(|i| {
            let n = if i == 0 {
                size - per * (streams as u64 - 1)
            } else {
                per
            };
            let addr = relay.addr;
            std::thread::spawn(move || send(addr, n))
        })
        .collect();
    for c in clients {
        c.join()
            .map_err(|_| io::Error::other("client panicked"))??;
    }
    // The clients are done when the relay has their bytes; the run ends when the sink has.
    let deadline = Instant::now() + Duration::from_secs(60);
    let want = size + lead * streams as u64;
    while sink.got.load(Ordering::SeqCst) - before < want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(200));
    }
    let wall = t0.elapsed();
    let cpu = relay.cpu()? - c0;
    Ok(Sample {
        wall,
        cpu,
        delivered: sink.got.load(Ordering::SeqCst) - before,
        strategy: None,
        syscalls: 0,
    })
}

/// A client: `n` bytes by `sendfile` from a 1 MiB memfd, as `splice cat FILE > SOCKET` sends
/// (a cheap sender leaves the cores to the relays being compared).
fn send(addr: SocketAddr, mut n: u64) -> io::Result<()> {
    const CHUNK: u64 = 1 << 20;
    let s = TcpStream::connect(addr)?;
    let src = rustix::fs::memfd_create("relay-bench", rustix::fs::MemfdFlags::CLOEXEC)?;
    rustix::io::write(&src, &vec![b'r'; CHUNK as usize])?;
    while n > 0 {
        let mut off = 0u64;
        while off < CHUNK.min(n) {
            let want = (CHUNK.min(n) - off) as usize;
            match splicekit::sys::sendfile(&s, &src, Some(&mut off), want) {
                Ok(0) => return Err(io::Error::other("sendfile moved nothing")),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        n -= off;
    }
    s.shutdown(std::net::Shutdown::Write)
}
