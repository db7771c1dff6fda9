//! `splice relay` under load and at its limits: 1,000 concurrent connections, descriptors
//! after 10,000, --max-conns, shutdown, idle and connect timeouts, Unix sockets, fallback.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use super::{exchange, hashing_upstream, hashing_upstreams, have_strace, rt, Relay};
use crate::util::{data, sha};

/// Runs `n` exchanges at once (sizes varying around page and pipe boundaries), each checked
/// by hash both ways; returns when every upstream side has confirmed what it read.
async fn many_at_once(
    relay: &Relay,
    seen: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    n: usize,
) {
    let sizes = [1, 4095, 4097, 65537, 100_000];
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let addr = relay.addr.clone();
            let (up, down) = (sizes[i % 5] + i, sizes[(i + 2) % 5]);
            tokio::spawn(async move { exchange(&addr, up, down).await })
        })
        .collect();
    let mut sent = Vec::new();
    for t in tasks {
        match t.await {
            Ok(s) => sent.push(s),
            Err(e) => panic!("{e}; the relay logged: {:#?}", relay.log()),
        }
    }
    let mut got = Vec::new();
    for _ in 0..n {
        got.push(seen.recv().await.unwrap());
    }
    sent.sort();
    got.sort();
    assert_eq!(sent, got);
}

/// Waits until the relay has logged `n` lines (a line per finished connection).
async fn wait_lines(relay: &Relay, n: usize) {
    let t = Instant::now();
    while relay.log().len() < n {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{}",
            relay.log().len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn a_thousand_connections_at_once_each_intact() {
    let rt = rt();
    rt.block_on(async {
        let (up, mut seen) = hashing_upstream().await;
        let relay = Relay::start(&up.to_string(), &["-j", "2"]);
        many_at_once(&relay, &mut seen, 1000).await;
        wait_lines(&relay, 1001).await;
        // SO_REUSEPORT spread the connections: both workers spent CPU on them.
        let workers = relay.thread_cpu_ticks();
        let busy: Vec<_> = workers
            .iter()
            .filter(|(name, t)| name.starts_with("relay-") && *t > 0)
            .collect();
        assert_eq!(busy.len(), 2, "{workers:?}");
        assert!(relay.log()[1..].iter().all(|l| l.ends_with(" by splice")));
    });
}

#[test]
fn ten_thousand_connections_leave_no_descriptor_behind() {
    let rt = rt();
    rt.block_on(async {
        let (up, mut seen) = hashing_upstream().await;
        let relay = Relay::start(&up.to_string(), &[]);
        // After one connection the runtimes have opened their own descriptors (epoll,
        // eventfd, the signal socket); count from there.
        many_at_once(&relay, &mut seen, 1).await;
        wait_lines(&relay, 2).await;
        let (start, start_pipes) = (relay.fds(), relay.pipe_fds());
        // The pipe pool keeps up to 64 idle pipes (128 descriptors) once connections have
        // used them: a bound, not a leak. Fill it, then count again.
        many_at_once(&relay, &mut seen, 100).await;
        wait_lines(&relay, 102).await;
        let (warm, warm_pipes) = (relay.fds(), relay.pipe_fds());
        assert!(
            warm_pipes - start_pipes <= 128,
            "{start_pipes} -> {warm_pipes} pipes"
        );
        assert_eq!(warm - warm_pipes, start - start_pipes, "other descriptors");
        for _ in 0..100 {
            many_at_once(&relay, &mut seen, 100).await;
        }
        wait_lines(&relay, 10_102).await;
        // Pipes come back to the pool as connections go quiet (a relay holds a pipe only
        // while bytes are in flight), so the pool may hold more than when warm — never more
        // than its bound; every other descriptor is back to the warm count.
        let (after, after_pipes) = (relay.fds(), relay.pipe_fds());
        assert!(
            after_pipes.saturating_sub(start_pipes) <= 128
                && after - after_pipes == warm - warm_pipes,
            "descriptors: {start} at start ({start_pipes} pipes), {warm} warm ({warm_pipes}), \
             {after} after 10,000 connections ({after_pipes})"
        );
    });
}

/// The load tests again with the operator's features on: a PROXY v2 header to each of three
/// upstreams in turn. 1,000 connections at once, then 10,000 in batches of 100, every byte
/// checked by hash both ways, every upstream used, descriptors flat.
#[test]
fn the_load_tests_hold_with_proxy_headers_and_three_upstreams() {
    let rt = rt();
    rt.block_on(async {
        let (ups, mut seen) = hashing_upstreams(3, true).await;
        let ups: Vec<String> = ups.iter().map(|a| a.to_string()).collect();
        let relay = Relay::start_with(
            &[],
            "127.0.0.1:0",
            &ups[0],
            &[&ups[1], &ups[2], "--send-proxy-v2", "-j", "2"],
        );
        many_at_once(&relay, &mut seen, 1000).await;
        wait_lines(&relay, 1001).await;
        for up in &ups {
            let used = relay
                .log()
                .iter()
                .filter(|l| l.contains(&format!("-> {up}:")))
                .count();
            assert!(used > 100, "{up} took {used} of 1,000");
        }
        let (warm, warm_pipes) = (relay.fds(), relay.pipe_fds());
        for _ in 0..100 {
            many_at_once(&relay, &mut seen, 100).await;
        }
        wait_lines(&relay, 11_001).await;
        let (after, after_pipes) = (relay.fds(), relay.pipe_fds());
        assert!(
            after_pipes <= 128 + 2 && after - after_pipes <= warm - warm_pipes,
            "descriptors: {warm} warm ({warm_pipes} pipes), {after} after ({after_pipes})"
        );
    });
}

/// Upstream connections open at the moment, counted by an accept loop that holds them.
async fn counting_upstream() -> (String, tokio::sync::mpsc::UnboundedReceiver<TcpStream>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let _ = tx.send(s);
        }
    });
    (addr, rx)
}

#[test]
fn max_conns_holds_excess_connections_back_or_refuses_them() {
    let rt = rt();
    rt.block_on(async {
        // Waiting: three relayed, three queued until one ends.
        let (up, mut upstream) = counting_upstream().await;
        // Two workers: a slot freed must go to a connection waiting in either one's backlog.
        let relay = Relay::start(&up, &["--max-conns", "3", "-j", "2"]);
        let mut clients = Vec::new();
        for _ in 0..6 {
            clients.push(TcpStream::connect(&relay.addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut held = Vec::new();
        while let Ok(s) = upstream.try_recv() {
            held.push(s);
        }
        assert_eq!(held.len(), 3);
        // One connection ends (the upstream resets it; a plain close would only half-close
        // it, and the client side is still open).
        super::reset(held.pop().unwrap());
        let s = tokio::time::timeout(Duration::from_secs(5), upstream.recv()).await;
        assert!(s.is_ok(), "a queued connection should get the freed slot");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(upstream.try_recv().is_err(), "only one slot was freed");
        drop(relay);

        // Refusing: the three extra clients are closed at once, with a log line each.
        let (up, mut upstream) = counting_upstream().await;
        let relay = Relay::start(&up, &["--max-conns", "3", "--refuse-excess"]);
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push(TcpStream::connect(&relay.addr).await.unwrap());
        }
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(upstream.recv().await.unwrap());
        }
        for _ in 0..3 {
            let mut c = TcpStream::connect(&relay.addr).await.unwrap();
            let mut v = Vec::new();
            let r = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut v)).await;
            assert!(matches!(r, Ok(Ok(0))), "{r:?}");
        }
        // The log lines arrive through a pipe read by another thread: wait for them.
        wait_lines(&relay, 4).await;
        let refused = relay.log().iter().filter(|l| l.contains("refused")).count();
        assert_eq!(refused, 3, "{:#?}", relay.log());
        assert!(upstream.try_recv().is_err());
    });
}

#[test]
fn sigterm_stops_accepting_and_lets_open_connections_finish() {
    let rt = rt();
    rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut relay = Relay::start(&l.local_addr().unwrap().to_string(), &["--grace", "20s"]);
        let mut c = TcpStream::connect(&relay.addr).await.unwrap();
        let (mut s, _) = l.accept().await.unwrap();
        c.write_all(b"before").await.unwrap();
        relay.signal("TERM");
        tokio::time::sleep(Duration::from_millis(300)).await;
        // No new connection is taken...
        assert!(TcpStream::connect(&relay.addr).await.is_err());
        // ...the open one still carries bytes both ways and ends normally.
        let big = data(3 << 20);
        let want = sha(&big);
        let w = tokio::spawn(async move {
            c.write_all(&big).await.unwrap();
            c.shutdown().await.unwrap();
            c
        });
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(&got[..6], b"before");
        assert_eq!(sha(&got[6..]), want);
        s.write_all(b"bye").await.unwrap();
        drop(s);
        let mut c = w.await.unwrap();
        let mut bye = Vec::new();
        c.read_to_end(&mut bye).await.unwrap();
        assert_eq!(bye, b"bye");
        assert_eq!(
            relay.wait(Duration::from_secs(10)),
            Some(0),
            "{:#?}",
            relay.log()
        );
    });
}

#[test]
fn the_grace_period_ends_with_open_connections_cut() {
    let rt = rt();
    rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut relay = Relay::start(&l.local_addr().unwrap().to_string(), &["--grace", "300ms"]);
        let mut c = TcpStream::connect(&relay.addr).await.unwrap();
        let (_s, _) = l.accept().await.unwrap();
        let t = Instant::now();
        relay.signal("INT");
        // Status 1: connections were cut.
        assert_eq!(relay.wait(Duration::from_secs(10)), Some(1));
        assert!(t.elapsed() >= Duration::from_millis(300));
        relay.wait_log(|l| l.contains("1 connection(s) cut"));
        let mut v = Vec::new();
        let _ = c.read_to_end(&mut v).await; // closed by the relay
        assert!(v.is_empty());
    });
}

#[test]
fn idle_and_connect_timeouts_end_the_connection_with_a_message() {
    let rt = rt();
    rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay = Relay::start(
            &l.local_addr().unwrap().to_string(),
            &["--idle-timeout", "300ms"],
        );
        let mut c = TcpStream::connect(&relay.addr).await.unwrap();
        let (_s, _) = l.accept().await.unwrap();
        c.write_all(b"x").await.unwrap();
        let line = relay.wait_log(|l| l.contains("idle"));
        assert!(
            line.contains("no byte moved either way for 300ms"),
            "{line}"
        );
        assert!(line.contains("up 1 down 0 bytes"), "{line}");

        // An upstream whose backlog is full never completes the handshake.
        use rustix::net::{bind, listen, socket, AddressFamily, SocketType};
        let full = socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
        bind(
            &full,
            &"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap(),
        )
        .unwrap();
        listen(&full, 0).unwrap();
        let addr = rustix::net::getsockname(&full).unwrap();
        let addr = std::net::SocketAddr::try_from(addr).unwrap();
        let mut fillers = Vec::new();
        for _ in 0..4 {
            if let Ok(Ok(s)) =
                tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await
            {
                fillers.push(s);
            }
        }
        let relay = Relay::start(&addr.to_string(), &["--connect-timeout", "400ms"]);
        let _c = TcpStream::connect(&relay.addr).await.unwrap();
        let line = relay.wait_log(|l| l.contains("connect:"));
        assert!(line.contains("timed out after 400ms"), "{line}");
    });
}

#[test]
fn unix_sockets_on_either_side() {
    let rt = rt();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (up_path, front) = (dir.path().join("up.sock"), dir.path().join("front.sock"));
        let l = UnixListener::bind(&up_path).unwrap();
        let up = format!("unix:{}", up_path.display());
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.into_split();
                    let mut v = Vec::new();
                    r.read_to_end(&mut v).await.unwrap();
                    v.reverse();
                    w.write_all(&v).await.unwrap();
                });
            }
        });
        // unix -> unix, then TCP -> unix.
        let listen = format!("unix:{}", front.display());
        let r1 = Relay::start_with(&[], &listen, &up, &[]);
        let r2 = Relay::start(&up, &[]);
        for n in [0, 1, 4096, 65537, (3 << 20) + 1] {
            let input = data(n);
            let mut want = input.clone();
            want.reverse();
            let mut c = UnixStream::connect(&front).await.unwrap();
            c.write_all(&input).await.unwrap();
            c.shutdown().await.unwrap();
            let mut got = Vec::new();
            c.read_to_end(&mut got).await.unwrap();
            assert_eq!(sha(&got), sha(&want), "unix {n}");
            let mut c = TcpStream::connect(&r2.addr).await.unwrap();
            c.write_all(&input).await.unwrap();
            c.shutdown().await.unwrap();
            let mut got = Vec::new();
            c.read_to_end(&mut got).await.unwrap();
            assert_eq!(sha(&got), sha(&want), "tcp {n}");
        }
        assert!(r1.addr.starts_with("unix:"), "{}", r1.addr);
        // A second relay on a live socket path is refused; once the first is killed
        // (SIGKILL leaves its file behind) the next one replaces the stale file.
        let busy = std::process::Command::new(crate::util::splice())
            .args(["relay", &listen, &up])
            .output()
            .unwrap();
        assert_eq!(busy.status.code(), Some(1));
        let err = String::from_utf8_lossy(&busy.stderr);
        assert!(err.contains("Address already in use"), "{err}");
        drop(r1);
        assert!(front.exists());
        let r1 = Relay::start_with(&[], &listen, &up, &[]);
        let mut c = UnixStream::connect(&front).await.unwrap();
        c.write_all(b"abc").await.unwrap();
        c.shutdown().await.unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"cba");
        // A relay that stops removes the socket file it created.
        let mut r1 = r1;
        r1.signal("TERM");
        assert_eq!(r1.wait(Duration::from_secs(10)), Some(0));
        assert!(!front.exists());
    });
}

#[test]
fn a_refused_splice_falls_back_to_copying_with_every_byte() {
    if super::engine() == "uring" {
        // The ring's splices are run by the kernel's io_uring workers, not made as system
        // calls: strace cannot fail them.
        return crate::util::skip("relay: splice(2) injection under --engine uring");
    }
    if !have_strace() {
        return;
    }
    let rt = rt();
    rt.block_on(async {
        let (up, mut seen) = hashing_upstream().await;
        // Every splice refused: each connection copies through a buffer, at the boundary
        // sizes both ways. Then only the second splice of the process (the first
        // out-splice, with bytes in the pipe): those bytes are read out and sent on.
        let mut sizes = crate::util::SIZES.to_vec();
        sizes.push((3 << 20) + 1);
        let every: Vec<_> = sizes
            .iter()
            .copied()
            .zip(sizes.iter().rev().copied())
            .collect();
        let once = vec![((3 << 20) + 1, 65536), (65537, 4097)];
        for (when, pairs) in [("1+", every), ("2", once)] {
            let inject = format!("inject=splice:error=EINVAL:when={when}");
            // One worker: strace counts a thread's calls, and the first connection's line
            // must come first.
            let relay = Relay::start_with(
                &["strace", "-f", "-o", "/dev/null", "-e", &inject],
                "127.0.0.1:0",
                &up.to_string(),
                &["-j", "1"],
            );
            for &(n, down) in &pairs {
                let sent = exchange(&relay.addr, n, down).await;
                assert_eq!(seen.recv().await.unwrap(), sent, "when={when}: up {n}");
            }
            wait_lines(&relay, pairs.len() + 1).await;
            let log = relay.log();
            if when == "1+" {
                assert!(log[1..].iter().all(|l| l.ends_with(" by copy")), "{log:#?}");
            } else {
                assert!(log[1].contains("copy"), "{log:#?}");
            }
        }
    });
}

/// A client through the relay that stays open: it asked for 65537 bytes and has read 4096,
/// and sent the first 1000 of `first` bytes; the relay holds its sockets and pipes.
async fn held_client(relay: &Relay, first: &[u8]) -> (OwnedReadHalf, OwnedWriteHalf) {
    let stream = TcpStream::connect(&relay.addr).await.unwrap();
    let (mut r, mut w) = stream.into_split();
    let mut head = 65537u64.to_le_bytes().to_vec();
    head.extend_from_slice(&first[..1000]);
    w.write_all(&head).await.unwrap();
    let mut got = vec![0u8; 4096];
    r.read_exact(&mut got).await.unwrap();
    (r, w)
}

/// Ends a [`held_client`]: the rest of `first` up, the rest of the answer down (checked).
async fn finish_held(mut r: OwnedReadHalf, mut w: OwnedWriteHalf, first: &[u8]) {
    w.write_all(&first[1000..]).await.unwrap();
    w.shutdown().await.unwrap();
    let mut got = Vec::new();
    r.read_to_end(&mut got).await.unwrap();
    let mut want = data(65537);
    want.reverse();
    assert_eq!(sha(&got), sha(&want[4096..]));
}

#[test]
fn a_client_short_of_descriptors_waits_and_is_served_whole() {
    if !crate::util::have("prlimit", "a descriptor limit for the relay alone") {
        return;
    }
    let rt = rt();
    rt.block_on(async {
        let (up, mut seen) = hashing_upstream().await;
        // With no descriptor left the second client cannot be accepted; with one, it is
        // accepted but has none for its upstream socket. Either way it waits until the
        // first is done, and the relay says why.
        for (free, said) in [
            (0, "relay: accept: Too many open files"),
            (
                1,
                ": waiting for a descriptor for its upstream: Too many open files",
            ),
        ] {
            let first = data(70_000 + free);
            // What a relay holds with one such client: measured on a twin without a limit
            // (the limit is set at the start, as an io_uring accept reads it when armed).
            // With the copy strategy (tokio's, on epoll), which holds no pipe: the pipes a
            // splicing relay holds vary with timing (a direction done with its pipe returns
            // it to the pool, where the other may take it), and idle pooled pipes are
            // closed to make room before anyone waits (relay/more.rs's burst test runs
            // both engines short of descriptors). Should the two still differ, the round
            // is run again.
            let args = ["-j", "1", "--strategy", "copy"];
            let mut attempts = 0;
            let (relay, r, w) = loop {
                attempts += 1;
                assert!(attempts <= 10, "no two relays alike in 10 attempts");
                let twin = Relay::start(&up.to_string(), &args);
                let (r, w) = held_client(&twin, &first).await;
                let limit = twin.nofile_leaving(free);
                finish_held(r, w, &first).await;
                assert_eq!(seen.recv().await.unwrap(), sha(&first));
                drop(twin);
                let relay = Relay::start_with(
                    &["prlimit", &format!("--nofile={limit}")],
                    "127.0.0.1:0",
                    &up.to_string(),
                    &args,
                );
                let (r, w) = held_client(&relay, &first).await;
                if relay.nofile_leaving(free) == limit {
                    break (relay, r, w);
                }
                finish_held(r, w, &first).await;
                assert_eq!(seen.recv().await.unwrap(), sha(&first));
            };
            let addr = relay.addr.clone();
            let second = tokio::spawn(async move { exchange(&addr, 65536 + free, 4097).await });
            // (Blocks this thread only: the client runs on the runtime's workers.)
            relay.wait_log(|l| l.ends_with(said));
            // Once the first is done, the second is served, every byte both ways.
            finish_held(r, w, &first).await;
            let sent = second.await.unwrap();
            let mut hashes = vec![seen.recv().await.unwrap(), seen.recv().await.unwrap()];
            hashes.sort();
            let mut want = vec![sha(&first), sent];
            want.sort();
            assert_eq!(hashes, want, "free {free}");
            wait_lines(&relay, 4).await;
            let log = relay.log();
            let served = log.iter().filter(|l| l.contains(": up ")).count();
            assert_eq!(served, 2, "{log:#?}");
            assert!(log.iter().any(|l| l.ends_with(said)), "{log:#?}");
        }
    });
}

/// [`exchange`] that reports a failure instead of panicking: the hash of what it sent once
/// the answer came whole, or the error that cut it.
async fn try_exchange(relay: &str, up: usize, down: usize) -> std::io::Result<String> {
    let s = TcpStream::connect(relay).await?;
    let (mut r, mut w) = s.into_split();
    let sent = data(up);
    let sent_sha = sha(&sent);
    let writer = tokio::spawn(async move {
        w.write_u64_le(down as u64).await?;
        w.write_all(&sent).await?;
        w.shutdown().await
    });
    let mut got = Vec::new();
    let read = r.read_to_end(&mut got).await;
    writer.await.unwrap()?;
    read?;
    let mut want = data(down);
    want.reverse();
    assert_eq!(sha(&got), sha(&want), "down {down} bytes");
    Ok(sent_sha)
}

#[test]
fn a_burst_bigger_than_the_descriptors_left_is_served_or_reset_never_stuck() {
    if !crate::util::have("prlimit", "a descriptor limit for the relay alone") {
        return;
    }
    let rt = rt();
    rt.block_on(async {
        let (up, mut seen) = hashing_upstream().await;
        // Three descriptors past what an idle relay holds: room for one connection. With
        // io_uring, the multishot accept can take three clients at once into them, and none
        // of those would ever get a descriptor for its upstream.
        let limit = Relay::start(&up.to_string(), &["-j", "1"]).nofile_leaving(3);
        let relay = Relay::start_with(
            &["prlimit", &format!("--nofile={limit}")],
            "127.0.0.1:0",
            &up.to_string(),
            &["-j", "1"],
        );
        let clients: Vec<_> = (0..8)
            .map(|i| {
                let addr = relay.addr.clone();
                tokio::spawn(async move {
                    let t = Duration::from_secs(20);
                    tokio::time::timeout(t, try_exchange(&addr, 4097 + i, 65537)).await
                })
            })
            .collect();
        let mut served = Vec::new();
        let mut reset = 0;
        for c in clients {
            match c.await.unwrap() {
                Ok(Ok(h)) => served.push(h),
                Ok(Err(_)) => reset += 1,
                Err(_) => panic!("a client still waits after 20 s: {:#?}", relay.log()),
            }
        }
        // And the relay goes on.
        let h = try_exchange(&relay.addr, 65536, 4096).await;
        served.push(h.unwrap_or_else(|e| panic!("{e}: {:#?}", relay.log())));
        let mut got = Vec::new();
        while let Ok(Some(h)) = tokio::time::timeout(Duration::from_secs(1), seen.recv()).await {
            got.push(h);
        }
        for h in &served {
            assert!(got.contains(h), "{} served, {reset} reset", served.len());
        }
        // Each reset was the relay's own shortage, and counted so.
        relay.signal("USR1");
        let line = relay.wait_log(|l| l.contains(" accepted, "));
        let counts = format!("(client 0, upstream 0, relay {reset})");
        assert!(line.contains(&counts), "{line}");
    });
}

#[test]
fn without_descriptors_for_a_pipe_each_connection_copies_every_byte() {
    if !crate::util::have("prlimit", "a descriptor limit for the relay alone") {
        return;
    }
    let rt = rt();
    rt.block_on(async {
        let (up, mut seen) = hashing_upstream().await;
        // What an idle relay holds; under a limit of that plus the two sockets of one
        // connection, the connection's pipes cannot be made (EMFILE).
        let base = Relay::start(&up.to_string(), &["-j", "1"]).nofile_leaving(2);
        let limit = format!("--nofile={base}");
        let relay = Relay::start_with(
            &["prlimit", &limit],
            "127.0.0.1:0",
            &up.to_string(),
            &["-j", "1"],
        );
        let mut sizes = crate::util::SIZES.to_vec();
        sizes.push((3 << 20) + 1);
        for (i, &n) in sizes.iter().enumerate() {
            let down = sizes[(i + 5) % sizes.len()];
            let sent = exchange(&relay.addr, n, down).await;
            assert_eq!(seen.recv().await.unwrap(), sent, "up {n} bytes");
            // The next client only once this one's line is out (its sockets are closed
            // before it): the io_uring engine's accept runs in the kernel as soon as a
            // client connects, and under this limit it could find the previous
            // connection's sockets still open (the client waits, and the relay says so).
            wait_lines(&relay, i + 2).await;
        }
        let log = relay.log();
        assert_eq!(log.len(), sizes.len() + 1, "{log:#?}");
        assert!(log[1..].iter().all(|l| l.ends_with(" by copy")), "{log:#?}");
    });
}
