//! The io_uring reactor and relay (features `io-uring` + `tokio`): a dropped op keeps its
//! descriptor open until the kernel has let go of it, and `uring::relay_until` moves every
//! byte both ways at the boundary sizes (by hash), passes each half-close on, and returns
//! from an idle timeout with no entry left holding the sockets.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use splicekit::tokio::{Options, Path};
use splicekit::uring::{relay_until, Keep, Reactor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::util::{data, sha, skip, SIZES};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A reactor on the current runtime, or `None` after saying why there is none.
fn reactor() -> Option<Arc<Reactor>> {
    match Reactor::new(16) {
        Ok(r) => Some(r),
        Err(e) => {
            skip(format!("io_uring unavailable here ({e})"));
            None
        }
    }
}

/// A connected pair: the relay's end (non-blocking, shared) and the test's (tokio).
fn pair() -> (Arc<OwnedFd>, UnixStream) {
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (Arc::new(a.into()), UnixStream::from_std(b).unwrap())
}

/// What descriptor `fd` names now (`/proc/self/fd`), if it is open.
fn names(fd: i32) -> Option<std::path::PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()
}

#[test]
fn a_dropped_op_keeps_its_descriptor_open_until_the_kernel_lets_go() {
    rt().block_on(async {
        let Some(r) = reactor() else { return };
        let (a, _peer) = pair();
        let raw = a.as_raw_fd();
        let was = names(raw);
        assert!(was.is_some());
        // A poll for bytes that never come: in the kernel until cancelled.
        let op = r.poll(a.clone() as Arc<dyn Keep>, libc::POLLIN as u32);
        drop(a);
        assert_eq!(names(raw), was, "the op holds the socket");
        drop(op); // a cancel is pushed; the completion is reaped by the driver task
        assert_eq!(
            names(raw),
            was,
            "closed before the kernel's completion was seen"
        );
        let t = Instant::now();
        while names(raw) == was {
            assert!(t.elapsed() < Duration::from_secs(5), "never let go");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
}

#[test]
fn an_op_completes_with_the_kernels_result() {
    rt().block_on(async {
        let Some(r) = reactor() else { return };
        let (a, mut peer) = pair();
        let a = a as Arc<dyn Keep>;
        // Writable at once; readable once the peer wrote.
        let ev = r.poll(a.clone(), libc::POLLOUT as u32).await.unwrap();
        assert_ne!(ev & libc::POLLOUT as i32, 0, "{ev:#x}");
        let readable = r.poll(a.clone(), libc::POLLIN as u32);
        peer.write_all(b"x").await.unwrap();
        let ev = readable.await.unwrap();
        assert_ne!(ev & libc::POLLIN as i32, 0, "{ev:#x}");
        // A splice into a pipe that the socket has one byte for.
        let (pr, pw) = splicekit::sys::pipe(splicekit::PipeFlags::CLOEXEC).unwrap();
        let flags = splicekit::SpliceFlags::NONBLOCK;
        let n = r.splice(a.clone(), Arc::new(pw), 100, flags).await.unwrap();
        assert_eq!(n, 1);
        // Nothing more: EAGAIN, as a non-blocking splice(2) says.
        let (_pr2, pw2) = splicekit::sys::pipe(splicekit::PipeFlags::CLOEXEC).unwrap();
        let n = r.splice(a, Arc::new(pw2), 100, flags).await.unwrap();
        assert_eq!(n, -libc::EAGAIN);
        drop(pr);
    });
}

/// `up` bytes from the client side, `down` from the server side, both half-closed after:
/// what each side read, by hash, and the report.
async fn through(r: &Arc<Reactor>, up: usize, down: usize) {
    let (a, mut client) = pair();
    let (b, mut server) = pair();
    let opts = Options::default();
    let relay = relay_until(r, a.clone(), b.clone(), &opts, std::future::pending());
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    let (sent_up, sent_down) = (data(up), data(down + 1)[1..].to_vec());
    let (report, got_down, got_up, (), ()) = tokio::join!(
        relay,
        async {
            let mut v = Vec::new();
            cr.read_to_end(&mut v).await.unwrap();
            v
        },
        async {
            let mut v = Vec::new();
            sr.read_to_end(&mut v).await.unwrap();
            v
        },
        async {
            cw.write_all(&sent_up).await.unwrap();
            cw.shutdown().await.unwrap();
        },
        async {
            sw.write_all(&sent_down).await.unwrap();
            sw.shutdown().await.unwrap();
        },
    );
    assert_eq!(sha(&got_up), sha(&sent_up), "up {up}");
    assert_eq!(sha(&got_down), sha(&sent_down), "down {down}");
    let report = report.unwrap();
    assert_eq!((report.a_to_b, report.b_to_a), (up as u64, down as u64));
    assert_eq!(
        (report.a_to_b_path, report.b_to_a_path),
        (Path::Splice, Path::Splice)
    );
}

#[test]
fn relay_until_moves_every_size_both_ways() {
    rt().block_on(async {
        let Some(r) = reactor() else { return };
        let mut sizes = SIZES.to_vec();
        sizes.push((5 << 20) + 3);
        for (i, &up) in sizes.iter().enumerate() {
            let down = sizes[(i + 4) % sizes.len()];
            through(&r, up, down).await;
        }
    });
}

/// The reactor's driver and the relays on different threads: a completion can be reaped
/// between the two polls of a direction's step (a linked drain's before its fill's).
#[test]
fn relay_until_on_a_multi_thread_runtime_moves_every_byte() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let Some(r) = reactor() else { return };
        let mut sizes = SIZES.to_vec();
        sizes.push((5 << 20) + 3);
        for round in 0..8 {
            let relays: Vec<_> = sizes
                .iter()
                .enumerate()
                .map(|(i, &up)| {
                    let (r, down) = (r.clone(), sizes[(i + round + 1) % sizes.len()]);
                    tokio::spawn(async move { through(&r, up, down).await })
                })
                .collect();
            for t in relays {
                t.await.unwrap();
            }
        }
    });
}

#[test]
fn an_idle_relay_ends_with_its_entries_done() {
    rt().block_on(async {
        let Some(r) = reactor() else { return };
        let (a, mut client) = pair();
        let (b, _server) = pair();
        let opts = Options {
            idle_timeout: Some(Duration::from_millis(100)),
            ..Options::default()
        };
        client.write_all(b"hello").await.unwrap();
        let stop = std::future::pending();
        let e = relay_until(&r, a.clone(), b.clone(), &opts, stop)
            .await
            .unwrap_err();
        assert_eq!(e.error.op(), splicekit::Op::Idle, "{e}");
        assert_eq!(e.report.a_to_b, 5);
        // Every poll the relay had in the kernel is complete: only our handles are left.
        assert_eq!((Arc::strong_count(&a), Arc::strong_count(&b)), (1, 1));
    });
}

/// A multishot accept hands over every connection in order, each a working non-blocking
/// socket; dropped with connections still queued, it closes them (their clients read EOF)
/// and, once the kernel has posted the cancellation, lets go of the listener's duplicate.
#[test]
fn a_multishot_accept_takes_every_connection_and_closes_what_it_leaves() {
    rt().block_on(async {
        let Some(r) = reactor() else { return };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let dup: OwnedFd = listener.try_clone().unwrap().into();
        let dup_raw = dup.as_raw_fd();
        let dup_was = names(dup_raw);
        let mut accepts = r.accept_multishot(Arc::new(dup));
        let mut clients = Vec::new();
        for i in 0..5u8 {
            let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
            c.write_all(&[i]).await.unwrap();
            clients.push(c);
        }
        for i in 0..3u8 {
            let fd = accepts.next().await.unwrap().expect("not ended");
            let s = std::net::TcpStream::from(fd);
            let mut s = tokio::net::TcpStream::from_std(s).expect("non-blocking, usable");
            let mut b = [0u8];
            s.read_exact(&mut b).await.unwrap();
            assert_eq!(b[0], i, "in order");
        }
        // Let the kernel accept the last two (queued, never taken), then drop.
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(accepts);
        for c in &mut clients[3..] {
            let mut b = [0u8; 1];
            let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut b))
                .await
                .expect("closed, not left hanging")
                .unwrap_or(0);
            assert_eq!(n, 0, "an untaken connection is closed");
        }
        let t = Instant::now();
        while names(dup_raw) == dup_was {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "the listener's duplicate stays open"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
}
