//! `splicekit::tokio` on real loopback TCP and Unix sockets and their split halves: every byte
//! checked by hash, EOF passed on as a half-close, errors reported with their side, pipes
//! returned clean.

use std::time::{Duration, Instant};

use splicekit::tokio::{
    copy, copy_bidirectional, relay, relay_until, Options, Path, SpliceRead, SpliceWrite,
};
use splicekit::{Op, PipePool};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};

use crate::util::{data, sha, SIZES};

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (a, b) = tokio::join!(TcpStream::connect(addr), l.accept());
    (a.unwrap(), b.unwrap().0)
}

/// Writes `v` into `s` and shuts down its write half.
async fn send<S: tokio::io::AsyncWrite + Unpin>(mut s: S, v: Vec<u8>) -> S {
    s.write_all(&v).await.unwrap();
    s.shutdown().await.unwrap();
    s
}

async fn recv<S: tokio::io::AsyncRead + Unpin>(mut s: S) -> Vec<u8> {
    let mut v = Vec::new();
    s.read_to_end(&mut v).await.unwrap();
    v
}

fn sizes() -> Vec<usize> {
    let mut v = SIZES.to_vec();
    v.push((3 << 20) + 1);
    v
}

/// `copy` from a socket to a socket: `feed` → `src` (copy) `dst` → `sink`.
async fn check_copy<R: SpliceRead, W: SpliceWrite>(
    feed: impl tokio::io::AsyncWrite + Unpin + Send + 'static,
    mut src: R,
    mut dst: W,
    sink: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    n: usize,
) {
    let input = data(n);
    let want = sha(&input);
    let w = tokio::spawn(send(feed, input));
    let r = tokio::spawn(recv(sink));
    let moved = copy(&mut src, &mut dst).await.unwrap();
    drop(dst);
    let got = r.await.unwrap();
    w.await.unwrap();
    assert_eq!(moved, n as u64);
    assert_eq!(sha(&got), want, "{n} bytes");
}

#[tokio::test]
async fn copy_moves_every_size_between_tcp_and_unix_sockets() {
    for n in sizes() {
        let ((f, s), (d, k)) = (tcp_pair().await, tcp_pair().await);
        check_copy(f, s, d, k, n).await;
        let ((f, s), (d, k)) = (UnixStream::pair().unwrap(), tcp_pair().await);
        check_copy(f, s, d, k, n).await;
        let ((f, s), (d, k)) = (tcp_pair().await, UnixStream::pair().unwrap());
        check_copy(f, s, d, k, n).await;
        let ((f, s), (d, k)) = (UnixStream::pair().unwrap(), UnixStream::pair().unwrap());
        check_copy(f, s, d, k, n).await;
    }
}

/// `feed` → (`src` read half) `copy` (`dst` write half) → `sink`, `n` bytes checked by hash.
/// The halves left over keep working: after the copy the sink answers on the same connection,
/// and `dst`'s read half gets the answer (only the write direction was shut down).
async fn halves<R, RW, DR, W, SR, SW>(
    feed: impl AsyncWrite + Unpin + Send + 'static,
    (mut src, src_w): (R, RW),
    (dst_r, mut dst): (DR, W),
    (sink_r, mut sink_w): (SR, SW),
    n: usize,
    what: &str,
) where
    R: SpliceRead,
    W: SpliceWrite,
    DR: AsyncRead + Unpin,
    SR: AsyncRead + Unpin,
    SW: AsyncWrite + Unpin,
{
    let input = data(n);
    let want = sha(&input);
    let w = tokio::spawn(send(feed, input));
    let (moved, got) = tokio::join!(copy(&mut src, &mut dst), recv(sink_r));
    let moved = moved.unwrap();
    w.await.unwrap();
    assert_eq!(moved, n as u64, "{what}, {n} bytes");
    assert_eq!(sha(&got), want, "{what}, {n} bytes");
    sink_w.write_all(b"answer").await.unwrap();
    sink_w.shutdown().await.unwrap();
    assert_eq!(recv(dst_r).await, b"answer", "{what}, {n} bytes");
    drop(src_w);
}

/// The sizes the split halves are checked at: empty, one byte, a page, past a pipe's default
/// 64 KiB, and a few MiB.
const HALF_SIZES: [usize; 5] = [0, 1, 4096, 65537, (3 << 20) + 1];

/// `copy` from the owned read half of one socket into the owned write half of another, TCP
/// and Unix in every pairing, as `into_split` gives them.
#[tokio::test]
async fn copy_takes_owned_read_and_write_halves() {
    for n in HALF_SIZES {
        let ((feed, src), (dst, sink)) = (tcp_pair().await, tcp_pair().await);
        let (src, dst, sink) = (src.into_split(), dst.into_split(), sink.into_split());
        halves(feed, src, dst, sink, n, "tcp -> tcp").await;
        let ((feed, src), (dst, sink)) = (UnixStream::pair().unwrap(), tcp_pair().await);
        let (src, dst, sink) = (src.into_split(), dst.into_split(), sink.into_split());
        halves(feed, src, dst, sink, n, "unix -> tcp").await;
        let ((feed, src), (dst, sink)) = (tcp_pair().await, UnixStream::pair().unwrap());
        let (src, dst, sink) = (src.into_split(), dst.into_split(), sink.into_split());
        halves(feed, src, dst, sink, n, "tcp -> unix").await;
        let ((feed, src), (dst, sink)) = (UnixStream::pair().unwrap(), UnixStream::pair().unwrap());
        let (src, dst, sink) = (src.into_split(), dst.into_split(), sink.into_split());
        halves(feed, src, dst, sink, n, "unix -> unix").await;
    }
}

/// The borrowed halves of `split()`, TCP and Unix.
#[tokio::test]
async fn copy_takes_borrowed_read_and_write_halves() {
    for n in HALF_SIZES {
        let ((feed, mut src), (mut dst, mut sink)) = (tcp_pair().await, tcp_pair().await);
        let (src, dst, sink) = (src.split(), dst.split(), sink.split());
        halves(feed, src, dst, sink, n, "tcp -> tcp").await;
        let ((feed, mut src), (mut dst, mut sink)) =
            (UnixStream::pair().unwrap(), UnixStream::pair().unwrap());
        let (src, dst, sink) = (src.split(), dst.split(), sink.split());
        halves(feed, src, dst, sink, n, "unix -> unix").await;
    }
}

/// Two `copy` calls on the owned halves of two connections, one per direction and each on
/// its own task, relay both ways at once: the usual use of `into_split`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_copies_on_owned_halves_relay_both_ways() {
    for (i, &up) in HALF_SIZES.iter().enumerate() {
        let down = HALF_SIZES[(i + 2) % HALF_SIZES.len()];
        let ((client, a), (b, server)) = (tcp_pair().await, tcp_pair().await);
        let ((mut a_r, mut a_w), (mut b_r, mut b_w)) = (a.into_split(), b.into_split());
        let ab = tokio::spawn(async move { copy(&mut a_r, &mut b_w).await });
        let ba = tokio::spawn(async move { copy(&mut b_r, &mut a_w).await });
        let (cr, cw) = client.into_split();
        let (sr, sw) = server.into_split();
        let (up_data, mut down_data) = (data(up), data(down));
        down_data.reverse();
        let (up_sha, down_sha) = (sha(&up_data), sha(&down_data));
        let tasks = (
            tokio::spawn(send(cw, up_data)),
            tokio::spawn(send(sw, down_data)),
            tokio::spawn(recv(sr)),
            tokio::spawn(recv(cr)),
        );
        assert_eq!(ab.await.unwrap().unwrap(), up as u64);
        assert_eq!(ba.await.unwrap().unwrap(), down as u64);
        assert_eq!(sha(&tasks.2.await.unwrap()), up_sha, "up {up}");
        assert_eq!(sha(&tasks.3.await.unwrap()), down_sha, "down {down}");
        tasks.0.await.unwrap();
        tasks.1.await.unwrap();
    }
}

/// client ⇄ (a) relay (b) ⇄ server; both directions at once, `up` bytes client → server and
/// `down` bytes server → client.
async fn through_relay(up: usize, down: usize, opts: &Options) {
    let ((client, a), (b, server)) = (tcp_pair().await, tcp_pair().await);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let (up_data, mut down_data) = (data(up), data(down));
    down_data.reverse();
    let (up_sha, down_sha) = (sha(&up_data), sha(&down_data));
    let tasks = (
        tokio::spawn(send(cw, up_data)),
        tokio::spawn(send(sw, down_data)),
        tokio::spawn(recv(sr)),
        tokio::spawn(recv(cr)),
    );
    let report = relay(&a, &b, opts).await.unwrap();
    assert_eq!((report.a_to_b, report.b_to_a), (up as u64, down as u64));
    assert_eq!(
        (report.a_to_b_path, report.b_to_a_path),
        (Path::Splice, Path::Splice)
    );
    let (at_server, at_client) = (tasks.2.await.unwrap(), tasks.3.await.unwrap());
    tasks.0.await.unwrap();
    tasks.1.await.unwrap();
    assert_eq!(sha(&at_server), up_sha, "up {up}");
    assert_eq!(sha(&at_client), down_sha, "down {down}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_moves_both_directions_at_once_at_every_size() {
    let opts = Options::default();
    for (i, &n) in sizes().iter().enumerate() {
        let other = sizes()[(i + 3) % sizes().len()];
        through_relay(n, other, &opts).await;
    }
    // Small pipes: many rounds, short splices on both hops.
    let small = Options {
        pipe_size: 4096,
        ..Options::default()
    };
    through_relay((1 << 20) + 7, 65537, &small).await;
}

#[tokio::test]
async fn copy_bidirectional_passes_each_half_close_on() {
    // The client speaks first and half-closes; the server answers after EOF, then closes.
    let ((mut client, mut a), (mut b, mut server)) = (tcp_pair().await, tcp_pair().await);
    let relay = tokio::spawn(async move { copy_bidirectional(&mut a, &mut b).await });
    client.write_all(b"request").await.unwrap();
    client.shutdown().await.unwrap();
    let mut got = Vec::new();
    server.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"request");
    server.write_all(b"answer after EOF").await.unwrap();
    server.shutdown().await.unwrap();
    let mut back = Vec::new();
    client.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, b"answer after EOF");
    assert_eq!(relay.await.unwrap().unwrap(), (7, 16));

    // The other way round: the server closes its side first; the client still sends.
    let ((mut client, mut a), (mut b, mut server)) = (tcp_pair().await, tcp_pair().await);
    let relay = tokio::spawn(async move { copy_bidirectional(&mut a, &mut b).await });
    server.write_all(b"banner").await.unwrap();
    server.shutdown().await.unwrap();
    let mut banner = Vec::new();
    client.read_to_end(&mut banner).await.unwrap();
    assert_eq!(banner, b"banner");
    client.write_all(b"still heard").await.unwrap();
    client.shutdown().await.unwrap();
    let mut got = Vec::new();
    server.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"still heard");
    assert_eq!(relay.await.unwrap().unwrap(), (11, 6));
}

/// Closes `s` with SO_LINGER 0: the peer sees a reset (RST), not an EOF.
fn reset(s: TcpStream) {
    rustix::net::sockopt::set_socket_linger(&s, Some(Duration::ZERO)).unwrap();
    drop(s);
}

#[tokio::test]
async fn a_reset_ends_the_relay_with_the_failing_side_and_pipes_go_back_clean() {
    static POOL: PipePool = PipePool::new(8);
    let opts = Options {
        pool: &POOL,
        ..Options::default()
    };
    for server_resets in [true, false] {
        let ((mut client, a), (b, mut server)) = (tcp_pair().await, tcp_pair().await);
        let o = opts.clone();
        let relaying = tokio::spawn(async move { relay(&a, &b, &o).await });
        // Bytes are in flight toward the side that resets when it goes.
        let writer = tokio::spawn(async move {
            let chunk = data(1 << 16);
            for _ in 0..64 {
                if client.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            client
        });
        let mut first = vec![0; 1000];
        server.read_exact(&mut first).await.unwrap();
        let kept = if server_resets {
            reset(server);
            writer.await.unwrap()
        } else {
            reset(writer.await.unwrap());
            // The server goes on reading, so the relay reaches the reset.
            tokio::spawn(async move {
                let mut sink = vec![0; 1 << 16];
                while matches!(server.read(&mut sink).await, Ok(n) if n > 0) {}
            });
            tcp_pair().await.0
        };
        let e = relaying.await.unwrap().unwrap_err();
        let io = e.error.io_error().kind();
        assert!(
            matches!(
                io,
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
            "{e}"
        );
        // The reset socket is `b` (the server side) or `a` (the client side).
        assert_eq!(e.on_a(), !server_resets, "{e}: {e:?}");
        assert!(e.report.a_to_b >= 1000, "{e:?}");
        drop(kept);
    }
    // Every pipe the pool kept is empty.
    let idle = POOL.idle();
    let pipes: Vec<_> = (0..idle).map(|_| POOL.take(1 << 20).unwrap()).collect();
    for p in &pipes {
        assert_eq!(p.queued().unwrap(), 0);
    }
}

#[tokio::test]
async fn an_idle_relay_times_out() {
    let ((_client, a), (b, _server)) = (tcp_pair().await, tcp_pair().await);
    let opts = Options {
        idle_timeout: Some(Duration::from_millis(200)),
        ..Options::default()
    };
    let t = Instant::now();
    let e = relay(&a, &b, &opts).await.unwrap_err();
    assert_eq!(e.error.op(), Op::Idle, "{e}");
    assert_eq!(e.error.io_error().kind(), std::io::ErrorKind::TimedOut);
    assert!(
        t.elapsed() >= Duration::from_millis(200),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn traffic_keeps_an_idle_timeout_from_firing() {
    let ((mut client, a), (b, mut server)) = (tcp_pair().await, tcp_pair().await);
    let opts = Options {
        idle_timeout: Some(Duration::from_millis(300)),
        ..Options::default()
    };
    let talk = tokio::spawn(async move {
        for _ in 0..8 {
            client.write_all(b"tick").await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        client.shutdown().await.unwrap();
        client
    });
    let listen = tokio::spawn(async move {
        let mut v = Vec::new();
        server.read_to_end(&mut v).await.unwrap();
        server.shutdown().await.unwrap();
        v
    });
    let r = relay(&a, &b, &opts).await.unwrap();
    assert_eq!(r.a_to_b, 32);
    assert_eq!(listen.await.unwrap(), b"tick".repeat(8));
    talk.await.unwrap();
}

#[tokio::test]
async fn a_stopped_relay_reports_what_moved_and_why() {
    let ((mut client, a), (b, mut server)) = (tcp_pair().await, tcp_pair().await);
    let go = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = go.clone();
    let stop = async move {
        while !flag.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        std::io::Error::other("time is up")
    };
    let relaying =
        tokio::spawn(async move { relay_until(&a, &b, &Options::default(), stop).await });
    client.write_all(b"abc").await.unwrap();
    server.read_exact(&mut [0; 3]).await.unwrap();
    server.write_all(b"de").await.unwrap();
    client.read_exact(&mut [0; 2]).await.unwrap();
    go.store(true, std::sync::atomic::Ordering::SeqCst);
    let e = relaying.await.unwrap().unwrap_err();
    assert_eq!(e.error.op(), Op::Stop, "{e}");
    assert_eq!(e.error.io_error().to_string(), "time is up");
    assert_eq!((e.report.a_to_b, e.report.b_to_a), (3, 2));
    assert!(e.a_to_b && e.on_a());
}

/// Pipe descriptors this process holds now (`/proc/self/fd` entries that are pipes).
fn pipe_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().starts_with("pipe:"))
        })
        .count()
}

/// A relay holds a pipe only while bytes are in flight: 100 connections that each moved a
/// few bytes both ways and then went quiet hold no pipes (the pool keeps at most 2), where
/// holding one per direction would be 400 descriptors. Every byte arrives.
#[tokio::test]
async fn idle_relays_hold_no_pipes() {
    static POOL: PipePool = PipePool::new(2);
    let opts = Options {
        pool: &POOL,
        ..Options::default()
    };
    let before = pipe_fds();
    let mut held = Vec::new();
    for i in 0..100u8 {
        let ((mut client, a), (b, mut server)) = (tcp_pair().await, tcp_pair().await);
        let o = opts.clone();
        let relaying = tokio::spawn(async move { relay(&a, &b, &o).await });
        client.write_all(&[i; 10]).await.unwrap();
        let mut got = [0u8; 10];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(got, [i; 10]);
        server.write_all(&[i ^ 0xff; 7]).await.unwrap();
        let mut back = [0u8; 7];
        client.read_exact(&mut back).await.unwrap();
        assert_eq!(back, [i ^ 0xff; 7]);
        held.push((client, server, relaying));
    }
    // Give the relays a moment to see their sources would block.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let grown = pipe_fds().saturating_sub(before);
    assert!(grown <= 60, "100 idle relays hold {grown} pipe descriptors");
    // They still relay, and end cleanly.
    for (mut client, mut server, relaying) in held {
        client.write_all(b"end").await.unwrap();
        client.shutdown().await.unwrap();
        let mut rest = Vec::new();
        server.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"end");
        server.shutdown().await.unwrap();
        let r = relaying.await.unwrap().unwrap();
        assert_eq!((r.a_to_b, r.b_to_a), (13, 7));
    }
}
