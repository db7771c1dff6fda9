//! `splice relay --engine uring` asked for explicitly, whatever engine the rest of the relay
//! tests run with: the boundary sizes and a few MiB both ways (by hash), the ring really in
//! use (an io_uring descriptor in the process), the refused combination, and the fallback to
//! epoll when `io_uring_setup` fails (strace fault injection) with every byte delivered.

use std::time::{Duration, Instant};

use super::{exchange, hashing_upstream, rt, Relay};
use crate::util::{have_strace, skip, splice, SIZES};

/// Whether this process can set up an io_uring (else says why the test skips).
fn have_uring() -> bool {
    match splicekit::uring::Ring::new(2) {
        Ok(_) => true,
        Err(e) => {
            skip(format!("io_uring cannot be set up here: {e}"));
            false
        }
    }
}

/// Whether one of the relay's descriptors is an io_uring instance.
fn has_ring(relay: &Relay) -> bool {
    std::fs::read_dir(format!("/proc/{}/fd", relay.pid()))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .any(|l| l.to_string_lossy().contains("io_uring"))
}

async fn wait_lines(relay: &Relay, n: usize) {
    let t = Instant::now();
    while relay.log().len() < n {
        assert!(t.elapsed() < Duration::from_secs(10), "{:#?}", relay.log());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn every_size_both_ways_through_the_ring() {
    if !have_uring() {
        return;
    }
    let rt = rt();
    rt.block_on(async {
        let (up, mut seen) = hashing_upstream().await;
        let relay = Relay::start_engine("uring", &[], "127.0.0.1:0", &up.to_string(), &[]);
        assert!(has_ring(&relay), "no io_uring descriptor in the relay");
        let mut sizes = SIZES.to_vec();
        sizes.extend([(3 << 20) + 1, 5 << 20]);
        for (i, &n) in sizes.iter().enumerate() {
            let down = sizes[(i + 3) % sizes.len()];
            let sent = exchange(&relay.addr, n, down).await;
            assert_eq!(seen.recv().await.unwrap(), sent, "up {n} bytes");
        }
        wait_lines(&relay, sizes.len() + 1).await;
        let log = relay.log();
        for (i, &n) in sizes.iter().enumerate() {
            let down = sizes[(i + 3) % sizes.len()];
            let want = format!(": up {} down {down} bytes", n + 8);
            assert!(log.iter().any(|l| l.contains(&want)), "{want}: {log:#?}");
        }
        assert!(
            log[1..].iter().all(|l| l.ends_with(" by splice")),
            "{log:#?}"
        );
    });
}

#[test]
fn uring_needs_the_splice_strategy() {
    let o = std::process::Command::new(splice())
        .args(["relay", "--engine", "uring", "--strategy", "copy", "1", "2"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--engine uring needs --strategy splice"),
        "{err}"
    );
}

#[test]
fn without_io_uring_the_relay_says_so_and_runs_epoll_with_every_byte() {
    if !have_strace() {
        return;
    }
    let rt = rt();
    rt.block_on(async {
        let (up, mut seen) = hashing_upstream().await;
        let relay = Relay::start_engine(
            "uring",
            &[
                "strace",
                "-f",
                "-o",
                "/dev/null",
                "-e",
                "trace=io_uring_setup",
                "-e",
                "inject=io_uring_setup:error=ENOSYS",
            ],
            "127.0.0.1:0",
            &up.to_string(),
            &["-j", "2"],
        );
        let listening = relay.wait_log(|l| l.starts_with("relay: listening on"));
        assert!(!listening.ends_with("(io_uring engine)"), "{listening}");
        let log = relay.log();
        assert_eq!(
            log[0],
            "relay: io_uring unavailable (Function not implemented): using the epoll engine",
            "{log:#?}"
        );
        assert!(!has_ring(&relay), "an io_uring descriptor in the relay");
        let mut sizes = SIZES.to_vec();
        sizes.push((3 << 20) + 1);
        for (i, &n) in sizes.iter().enumerate() {
            let down = sizes[(i + 1) % sizes.len()];
            let sent = exchange(&relay.addr, n, down).await;
            assert_eq!(seen.recv().await.unwrap(), sent, "up {n} bytes");
        }
        wait_lines(&relay, sizes.len() + 2).await;
        let log = relay.log();
        for (i, &n) in sizes.iter().enumerate() {
            let down = sizes[(i + 1) % sizes.len()];
            let want = format!(": up {} down {down} bytes", n + 8);
            assert!(log.iter().any(|l| l.contains(&want)), "{want}: {log:#?}");
        }
        // One line about the ring, however many workers.
        let about = log.iter().filter(|l| l.contains("io_uring")).count();
        assert_eq!(about, 1, "{log:#?}");
    });
}

/// The uring engine takes its connections from one multishot accept entry: no `accept4`
/// call per connection (strace sees none), where the epoll engine makes one for each, and
/// where a --max-conns wait keeps tokio's accept (a multishot accept would take connections
/// out of the backlog while the worker waits for a slot). Every byte checked by hash.
#[test]
fn the_uring_engine_accepts_by_one_multishot_entry() {
    if !have_uring() || !have_strace() {
        return;
    }
    let rt = rt();
    rt.block_on(async {
        let (up, mut seen) = hashing_upstream().await;
        for (engine, args, per_conn) in [
            ("uring", &[][..], false),
            ("uring", &["--max-conns", "4", "--refuse-excess"][..], false),
            ("uring", &["--max-conns", "4"][..], true),
            ("epoll", &[][..], true),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let trace = dir.path().join("trace");
            let t = trace.to_str().unwrap();
            let prefix = ["strace", "-f", "-o", t, "-e", "trace=accept,accept4"];
            let mut all = vec!["-j", "1"];
            all.extend_from_slice(args);
            let relay = Relay::start_engine(engine, &prefix, "127.0.0.1:0", &up.to_string(), &all);
            let n = 20;
            for i in 0..n {
                let size = SIZES[i % SIZES.len()];
                let sent = exchange(&relay.addr, size, size).await;
                assert_eq!(
                    seen.recv().await.unwrap(),
                    sent,
                    "{engine} {args:?}: {size} bytes"
                );
            }
            wait_lines(&relay, n + 1).await;
            let calls = std::fs::read_to_string(&trace)
                .unwrap()
                .lines()
                .filter(|l| l.contains("accept4(") || l.contains("accept("))
                .filter(|l| !l.contains("EAGAIN"))
                .count();
            if per_conn {
                assert!(
                    calls >= n,
                    "{engine} {args:?}: {calls} accept calls for {n} connections"
                );
            } else {
                assert_eq!(calls, 0, "{engine} {args:?}: {calls} accept calls");
            }
            drop(relay);
        }
    });
}
