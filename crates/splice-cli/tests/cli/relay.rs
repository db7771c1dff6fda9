//! `splice relay` as a process between real loopback sockets: every byte checked by hash in
//! both directions, half-closes, refused/reset peers, 1,000 concurrent connections, no
//! descriptor kept after 10,000, --max-conns, graceful shutdown.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::util::{data, have_strace, sha, splice, SIZES};

mod accept;
mod activate;
mod balance;
mod metrics;
mod more;
mod proxy;
mod trust;
mod uring;

/// The engine the relay tests run `splice relay` with: `SPLICE_TEST_RELAY_ENGINE` (`epoll`,
/// the default, or `uring`). `.ci/run` runs this whole file a second time with `uring`.
pub fn engine() -> &'static str {
    static ENGINE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ENGINE.get_or_init(|| match std::env::var("SPLICE_TEST_RELAY_ENGINE") {
        Ok(e) if e == "uring" || e == "epoll" => e,
        Ok(e) => panic!("SPLICE_TEST_RELAY_ENGINE={e}: epoll or uring"),
        Err(_) => "epoll".to_string(),
    })
}

/// `--engine ENGINE` for a relay started without [`Relay`].
pub fn engine_args() -> [&'static str; 2] {
    ["--engine", engine()]
}

/// A running `splice relay --log`, its stderr collected line by line.
pub struct Relay {
    child: Child,
    pub addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Relay {
    /// `[prefix...] splice relay --log --engine ENGINE LISTEN UPSTREAM args...` ([`engine`]);
    /// waits for its listening line, which must name the engine asked for.
    /// `--strategy copy` (tokio's copy, no splice to drive) always runs with epoll.
    pub fn start_with(prefix: &[&str], listen: &str, upstream: &str, args: &[&str]) -> Relay {
        let copy = args.windows(2).any(|w| w == ["--strategy", "copy"]);
        let engine = if copy { "epoll" } else { engine() };
        Relay::start_engine(engine, prefix, listen, upstream, args)
    }

    /// [`Relay::start_with`] with the engine given.
    pub fn start_engine(
        engine: &str,
        prefix: &[&str],
        listen: &str,
        upstream: &str,
        args: &[&str],
    ) -> Relay {
        let mut cmd = match prefix.split_first() {
            Some((p, rest)) => {
                let mut c = Command::new(p);
                c.args(rest).arg(splice());
                c
            }
            None => Command::new(splice()),
        };
        // Its own process group, so Drop can kill a wrapper (strace) and the relay under it.
        use std::os::unix::process::CommandExt;
        let mut child = cmd
            .args(["relay", "--log", "--engine", engine, listen, upstream])
            .args(args)
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let (stderr, l) = (child.stderr.take().unwrap(), log.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("relay: listening on ") {
                    let uring = rest.ends_with(" (io_uring engine)");
                    let _ = tx.send((rest.split(" -> ").next().unwrap().to_string(), uring));
                }
                l.lock().unwrap().push(line);
            }
        });
        let (addr, uring) = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("relay did not start: {:?}", log.lock().unwrap()));
        // A relay asked for io_uring runs it unless the ring cannot be set up, which it says.
        let fell_back = || log.lock().unwrap()[0].contains("io_uring unavailable");
        assert!(
            uring == (engine == "uring") || (engine == "uring" && fell_back()),
            "--engine {engine}: {:?}",
            log.lock().unwrap()
        );
        Relay { child, addr, log }
    }

    pub fn start(upstream: &str, args: &[&str]) -> Relay {
        Relay::start_with(&[], "127.0.0.1:0", upstream, args)
    }

    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until a log line satisfies `f`.
    pub fn wait_log(&self, f: impl Fn(&str) -> bool) -> String {
        let t = Instant::now();
        loop {
            if let Some(l) = self.log().into_iter().find(|l| f(l)) {
                return l;
            }
            assert!(t.elapsed() < Duration::from_secs(20), "{:#?}", self.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .count()
    }

    /// The descriptor limit under which this relay, holding what it holds now, has exactly
    /// `free` descriptors left: the lowest free numbers are the ones it would get, and a
    /// descriptor numbered above the limit (one it inherited) leaves no room.
    pub fn nofile_leaving(&self, free: usize) -> usize {
        let used: std::collections::HashSet<usize> =
            std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap())
                .collect();
        let mut left = free;
        (0..)
            .find(|n| {
                if used.contains(n) {
                    return false;
                }
                left = left.wrapping_sub(1);
                left == usize::MAX
            })
            .unwrap()
    }

    /// Each thread's name and CPU ticks (utime + stime).
    pub fn thread_cpu_ticks(&self) -> Vec<(String, u64)> {
        let dir = format!("/proc/{}/task", self.pid());
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|t| {
                let name = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
                let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
                let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
                let ticks = rest
                    .split_whitespace()
                    .skip(11)
                    .take(2)
                    .filter_map(|x| x.parse::<u64>().ok())
                    .sum();
                (name.trim().to_string(), ticks)
            })
            .collect()
    }

    /// How many of its descriptors are pipes.
    pub fn pipe_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|l| l.to_string_lossy().starts_with("pipe:"))
            .count()
    }

    pub fn signal(&self, sig: &str) {
        Command::new("kill")
            .args(["-s", sig, &self.pid().to_string()])
            .status()
            .unwrap();
    }

    /// Waits for the relay to exit; its status code.
    pub fn wait(&mut self, limit: Duration) -> Option<i32> {
        let t = Instant::now();
        while t.elapsed() < limit {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.pid() as i32) {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rt() -> tokio::runtime::Runtime {
    // The test process holds both ends of every connection.
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut l = getrlimit(Resource::Nofile);
    l.current = l.maximum;
    let _ = setrlimit(Resource::Nofile, l);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The upstream used by most tests: per connection, reads an 8-byte length N, then sends N
/// bytes (`data(N)` reversed) while reading the rest to EOF, then answers nothing more and
/// closes. Sends the SHA-256 of what it read (after the length) on `seen`.
async fn hashing_upstream() -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let (mut at, seen) = hashing_upstreams(1, false).await;
    (at.remove(0), seen)
}

/// `n` such upstreams reporting on one channel; with `proxied`, each connection starts with a
/// PROXY protocol v2 header, checked and skipped.
async fn hashing_upstreams(
    n: usize,
    proxied: bool,
) -> (
    Vec<SocketAddr>,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut at = Vec::new();
    for _ in 0..n {
        // A backlog of 4096 (tokio's bind uses 1024): a thousand connects at once on a loaded
        // machine overflowed 1024, and the kernel reset the connections it dropped.
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let l = sock.listen(4096).unwrap();
        at.push(l.local_addr().unwrap());
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let (mut r, mut w) = s.into_split();
                    if proxied {
                        let mut head = [0u8; 16];
                        r.read_exact(&mut head).await.unwrap();
                        assert_eq!(&head[..12], b"\r\n\r\n\0\r\nQUIT\n", "a v2 signature");
                        let mut rest = vec![0u8; u16::from_be_bytes([head[14], head[15]]) as usize];
                        r.read_exact(&mut rest).await.unwrap();
                    }
                    let n = r.read_u64_le().await.unwrap() as usize;
                    let send = tokio::spawn(async move {
                        let mut d = data(n);
                        d.reverse();
                        w.write_all(&d).await.unwrap();
                        w.shutdown().await.unwrap();
                    });
                    let mut v = Vec::new();
                    r.read_to_end(&mut v).await.unwrap();
                    send.await.unwrap();
                    let _ = tx.send(sha(&v));
                });
            }
        });
    }
    (at, rx)
}

/// One client through the relay: asks for `down` bytes, sends `up` bytes, checks what came
/// back by hash; returns the SHA-256 of what it sent.
async fn exchange(relay: &str, up: usize, down: usize) -> String {
    let s = TcpStream::connect(relay).await.unwrap();
    let (mut r, mut w) = s.into_split();
    let sent = data(up);
    let want_sha = sha(&sent);
    let writer = tokio::spawn(async move {
        w.write_u64_le(down as u64).await.unwrap();
        w.write_all(&sent).await.unwrap();
        w.shutdown().await.unwrap();
    });
    let mut got = Vec::new();
    r.read_to_end(&mut got).await.unwrap();
    writer.await.unwrap();
    let mut want = data(down);
    want.reverse();
    assert_eq!(sha(&got), sha(&want), "down {down} bytes");
    want_sha
}

#[test]
fn every_size_arrives_intact_both_ways() {
    let rt = rt();
    rt.block_on(async {
        let (up, mut seen) = hashing_upstream().await;
        let relay = Relay::start(&up.to_string(), &[]);
        let mut sizes = SIZES.to_vec();
        sizes.push((3 << 20) + 1);
        for (i, &n) in sizes.iter().enumerate() {
            let down = sizes[(i + 2) % sizes.len()];
            let sent = exchange(&relay.addr, n, down).await;
            assert_eq!(seen.recv().await.unwrap(), sent, "up {n} bytes");
        }
        // One line per connection, with the bytes each way (the 8-byte length included) and
        // the path; with several workers (-j defaults to the CPUs) not necessarily in order.
        let t = Instant::now();
        while relay.log().len() < sizes.len() + 1 {
            assert!(t.elapsed() < Duration::from_secs(10), "{:#?}", relay.log());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let log = relay.log();
        for (i, &n) in sizes.iter().enumerate() {
            let down = sizes[(i + 2) % sizes.len()];
            let want = format!(": up {} down {down} bytes", n + 8);
            assert!(log.iter().any(|l| l.contains(&want)), "{want}: {log:#?}");
        }
        assert!(
            log[1..].iter().all(|l| l.ends_with(" by splice")),
            "{log:#?}"
        );
    });
}

/// A stream of `n` bytes in 1 MiB chunks, each stamped with its index (so a lost, repeated or
/// reordered chunk changes the hash); hashes what it yields.
struct Stream {
    base: Vec<u8>,
    left: u64,
    index: u64,
    hash: Sha256,
}

impl Stream {
    fn new(n: u64, seed: usize) -> Stream {
        Stream {
            base: data((1 << 20) + seed),
            left: n,
            index: 0,
            hash: Sha256::new(),
        }
    }
    fn next(&mut self) -> Option<Vec<u8>> {
        if self.left == 0 {
            return None;
        }
        let k = self.left.min(1 << 20) as usize;
        let mut c = self.base[..k].to_vec();
        let stamp = self.index.to_le_bytes();
        let m = k.min(8);
        c[..m].copy_from_slice(&stamp[..m]);
        self.index += 1;
        self.left -= k as u64;
        self.hash.update(&c);
        Some(c)
    }
}

async fn pour(mut w: impl AsyncWriteExt + Unpin, mut s: Stream) -> String {
    while let Some(c) = s.next() {
        w.write_all(&c).await.unwrap();
    }
    w.shutdown().await.unwrap();
    format!("{:x}", s.hash.finalize())
}

async fn drink(mut r: impl AsyncReadExt + Unpin) -> (u64, String) {
    let (mut h, mut buf, mut n) = (Sha256::new(), vec![0; 1 << 20], 0u64);
    loop {
        let k = r.read(&mut buf).await.unwrap();
        if k == 0 {
            return (n, format!("{:x}", h.finalize()));
        }
        n += k as u64;
        h.update(&buf[..k]);
    }
}

#[test]
fn more_than_a_gigabyte_each_way_at_once() {
    let n: u64 = (1100 << 20) + 3;
    let rt = rt();
    rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = l.local_addr().unwrap().to_string();
        let relay = Relay::start(&up, &[]);
        let server = tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            let (r, w) = s.into_split();
            let down = tokio::spawn(pour(w, Stream::new(n, 2)));
            (drink(r).await, down.await.unwrap())
        });
        let (r, w) = TcpStream::connect(&relay.addr).await.unwrap().into_split();
        let up_sent = tokio::spawn(pour(w, Stream::new(n, 1)));
        let down_got = drink(r).await;
        let (up_got, down_sent) = server.await.unwrap();
        assert_eq!(up_got, (n, up_sent.await.unwrap()));
        assert_eq!(down_got, (n, down_sent));
        relay.wait_log(|l| l.contains(&format!("up {n} down {n} bytes")));
    });
}

#[test]
fn each_half_close_is_passed_on() {
    let rt = rt();
    rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay = Relay::start(&l.local_addr().unwrap().to_string(), &[]);
        // The client speaks and half-closes; the server answers after that EOF.
        let mut c = TcpStream::connect(&relay.addr).await.unwrap();
        let (mut s, _) = l.accept().await.unwrap();
        c.write_all(b"question").await.unwrap();
        c.shutdown().await.unwrap();
        let mut q = Vec::new();
        s.read_to_end(&mut q).await.unwrap();
        assert_eq!(q, b"question");
        s.write_all(b"answer after EOF").await.unwrap();
        s.shutdown().await.unwrap();
        let mut a = Vec::new();
        c.read_to_end(&mut a).await.unwrap();
        assert_eq!(a, b"answer after EOF");
        relay.wait_log(|l| l.contains("up 8 down 16 bytes"));
        // The server half-closes first; the client is still heard.
        let mut c = TcpStream::connect(&relay.addr).await.unwrap();
        let (mut s, _) = l.accept().await.unwrap();
        s.write_all(b"banner").await.unwrap();
        s.shutdown().await.unwrap();
        let mut b = Vec::new();
        c.read_to_end(&mut b).await.unwrap();
        assert_eq!(b, b"banner");
        c.write_all(b"late words").await.unwrap();
        c.shutdown().await.unwrap();
        let mut w = Vec::new();
        s.read_to_end(&mut w).await.unwrap();
        assert_eq!(w, b"late words");
        relay.wait_log(|l| l.contains("up 10 down 6 bytes"));
    });
}

/// The upstream's side of a test connection: sends `reply` and closes; the client `w` (a
/// thread that sent its bytes) must then read exactly `reply` to its end.
pub fn reply_and_check<C: std::io::Read>(
    mut s: std::net::TcpStream,
    w: std::thread::JoinHandle<C>,
    reply: &[u8],
) {
    use std::io::Write;
    s.write_all(reply).unwrap();
    drop(s);
    let mut c = w.join().unwrap();
    let mut a = Vec::new();
    c.read_to_end(&mut a).unwrap();
    assert_eq!(a, reply);
}

pub fn reset(s: TcpStream) {
    rustix::net::sockopt::set_socket_linger(&s, Some(Duration::ZERO)).unwrap();
    drop(s);
}

#[test]
fn a_refused_upstream_is_logged_and_the_client_closed() {
    let rt = rt();
    rt.block_on(async {
        let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dead = free.local_addr().unwrap().to_string();
        drop(free);
        let relay = Relay::start(&dead, &[]);
        // A blocking connect: the relay may reset the connection before tokio's connect
        // would have looked at it (and reported the reset as its own failure).
        let mut c = std::net::TcpStream::connect(&relay.addr).unwrap();
        let mut v = Vec::new();
        let r = std::io::Read::read_to_end(&mut c, &mut v);
        assert!(v.is_empty(), "{r:?}");
        let line = relay.wait_log(|l| l.contains("connect"));
        assert!(
            line.contains(&format!("upstream {dead}: connect: Connection refused")),
            "{line}"
        );
        // The process lives on and serves the next connection the same way.
        let mut c = std::net::TcpStream::connect(&relay.addr).unwrap();
        let _ = std::io::Read::read_to_end(&mut c, &mut v);
        let t = Instant::now();
        while relay.log().iter().filter(|l| l.contains("refused")).count() < 2 {
            assert!(t.elapsed() < Duration::from_secs(10), "{:#?}", relay.log());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
}

#[test]
fn a_reset_on_either_side_ends_that_connection_with_a_logged_error() {
    let rt = rt();
    rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay = Relay::start(&l.local_addr().unwrap().to_string(), &[]);
        for upstream_resets in [true, false] {
            let mut c = TcpStream::connect(&relay.addr).await.unwrap();
            let (mut s, _) = l.accept().await.unwrap();
            if upstream_resets {
                // The client streams; the upstream reads a little and resets.
                let w = tokio::spawn(async move {
                    let chunk = data(1 << 16);
                    for _ in 0..256 {
                        if c.write_all(&chunk).await.is_err() {
                            break;
                        }
                    }
                    c
                });
                let mut first = vec![0; 1000];
                s.read_exact(&mut first).await.unwrap();
                reset(s);
                let mut c = w.await.unwrap();
                let mut rest = Vec::new();
                let _ = c.read_to_end(&mut rest).await; // EOF or reset: the relay closed it
            } else {
                // The upstream streams; the client reads a little and resets.
                let w = tokio::spawn(async move {
                    let chunk = data(1 << 16);
                    for _ in 0..256 {
                        if s.write_all(&chunk).await.is_err() {
                            break;
                        }
                    }
                    s
                });
                let mut first = vec![0; 1000];
                c.read_exact(&mut first).await.unwrap();
                reset(c);
                let mut s = w.await.unwrap();
                let mut rest = Vec::new();
                let _ = s.read_to_end(&mut rest).await;
            }
            let who = if upstream_resets {
                "upstream"
            } else {
                "client"
            };
            let line = relay.wait_log(|l| l.contains(&format!(": {who}: ")));
            assert!(
                line.contains("Connection reset by peer") || line.contains("Broken pipe"),
                "{line}"
            );
        }
        // Exactly the two errors, nothing else logged but the start line.
        let lines = relay.log();
        assert_eq!(lines.len(), 3, "{lines:#?}");
        // And the same relay still moves bytes both ways.
        let mut c = TcpStream::connect(&relay.addr).await.unwrap();
        let (mut s, _) = l.accept().await.unwrap();
        c.write_all(b"ping").await.unwrap();
        c.shutdown().await.unwrap();
        s.write_all(b"pong").await.unwrap();
        s.shutdown().await.unwrap();
        let (mut x, mut y) = (Vec::new(), Vec::new());
        s.read_to_end(&mut x).await.unwrap();
        c.read_to_end(&mut y).await.unwrap();
        assert_eq!((x.as_slice(), y.as_slice()), (&b"ping"[..], &b"pong"[..]));
    });
}

#[test]
fn bad_addresses_and_a_busy_port_are_clear_errors() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    for (args, status, msg) in [
        (
            vec![port.as_str(), "9"],
            1,
            format!("relay: {port}: Address already in use\n"),
        ),
        (
            vec!["1", "unix:"],
            1,
            "relay: 'unix:': empty socket path\n".to_string(),
        ),
        (
            vec!["1"],
            2,
            "error: the following required arguments".to_string(),
        ),
    ] {
        let o = Command::new(splice())
            .arg("relay")
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(status), "{args:?}: {err}");
        assert!(err.starts_with(&msg), "{args:?}: {err}");
    }
}
