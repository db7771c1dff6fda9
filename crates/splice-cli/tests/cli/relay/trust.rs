//! `splice relay` as issue 16 asks operators to trust it, on plain std::net loopback sockets:
//! an abort on one side is a reset on the other (byte counts checked by hash and in --log,
//! both strategies).

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use super::Relay;
use crate::util::{data, sha};

const BODY: usize = 500_000;

/// Closes `s` with `SO_LINGER {1, 0}`: the peer gets a reset, not an EOF.
fn abort(s: TcpStream) {
    rustix::net::sockopt::set_socket_linger(&s, Some(Duration::ZERO)).unwrap();
    drop(s);
}

/// A connection through the relay: (client end, upstream end), each with a 5 s read timeout.
fn through(relay: &Relay, l: &TcpListener) -> (TcpStream, TcpStream) {
    let c = TcpStream::connect(&relay.addr).unwrap();
    let (s, _) = l.accept().unwrap();
    for x in [&c, &s] {
        x.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    }
    (c, s)
}

/// Sends `BODY` bytes from `from` in a thread while `to` reads exactly that many; checks them
/// by hash and hands `from` back.
fn pass_body(from: TcpStream, to: &mut TcpStream) -> TcpStream {
    let body = data(BODY);
    let want = sha(&body);
    let w = std::thread::spawn(move || {
        let mut from = from;
        from.write_all(&body).unwrap();
        from
    });
    let mut got = vec![0; BODY];
    to.read_exact(&mut got).unwrap();
    assert_eq!(sha(&got), want);
    w.join().unwrap()
}

/// What the next read on `s` gives: it must be a reset, not an EOF (nor a timeout).
fn assert_reset(s: &mut TcpStream, what: &str) {
    let mut b = [0u8; 16];
    let r = s.read(&mut b);
    assert!(
        matches!(&r, Err(e) if e.kind() == ErrorKind::ConnectionReset),
        "{what}: {r:?}"
    );
}

#[test]
fn an_abort_on_either_side_is_a_reset_on_the_other_with_the_bytes_logged() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let up = l.local_addr().unwrap().to_string();
    for strategy in ["splice", "copy"] {
        let relay = Relay::start(&up, &["--strategy", strategy]);
        // The upstream sends 500,000 bytes and resets.
        let (mut c, s) = through(&relay, &l);
        abort(pass_body(s, &mut c));
        assert_reset(
            &mut c,
            &format!("{strategy}: client after the upstream's reset"),
        );
        let line = relay.wait_log(|l| l.contains(": upstream: "));
        assert!(
            line.contains("(up 0 down 500000 bytes"),
            "{strategy}: {line}"
        );
        // The client sends 500,000 bytes and resets.
        let (c, mut s) = through(&relay, &l);
        abort(pass_body(c, &mut s));
        assert_reset(
            &mut s,
            &format!("{strategy}: upstream after the client's reset"),
        );
        let line = relay.wait_log(|l| l.contains(": client: "));
        assert!(
            line.contains("(up 500000 down 0 bytes"),
            "{strategy}: {line}"
        );
    }
}

#[test]
fn a_refused_or_timed_out_upstream_resets_the_client() {
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = free.local_addr().unwrap().to_string();
    drop(free);
    let relay = Relay::start(&dead, &[]);
    let mut c = TcpStream::connect(&relay.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_reset(&mut c, "refused upstream");
    relay.wait_log(|l| l.contains("Connection refused"));

    // An upstream whose backlog is full never completes the handshake.
    use rustix::net::{bind, listen, socket, AddressFamily, SocketType};
    let full = socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    bind(&full, &any).unwrap();
    listen(&full, 0).unwrap();
    let addr = std::net::SocketAddr::try_from(rustix::net::getsockname(&full).unwrap()).unwrap();
    let fillers: Vec<_> = (0..4)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok())
        .collect();
    let relay = Relay::start(&addr.to_string(), &["--connect-timeout", "300ms"]);
    let mut c = TcpStream::connect(&relay.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_reset(&mut c, "connect timeout");
    relay.wait_log(|l| l.contains("timed out after 300ms"));
    drop(fillers);
}

#[test]
fn on_exit_the_relay_unlinks_only_the_socket_it_bound() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("front.sock");
    let listen = format!("unix:{}", path.display());
    // A regular file put at the path since the start survives.
    let mut r = Relay::start_with(&[], &listen, "9", &[]);
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, b"not a socket").unwrap();
    r.signal("TERM");
    assert_eq!(r.wait(Duration::from_secs(10)), Some(0), "{:#?}", r.log());
    assert_eq!(std::fs::read(&path).unwrap(), b"not a socket");
    std::fs::remove_file(&path).unwrap();
    // A second relay that took the path over keeps its socket when the first one exits.
    let mut first = Relay::start_with(&[], &listen, "9", &[]);
    std::fs::remove_file(&path).unwrap();
    let second = Relay::start_with(&[], &listen, "9", &[]);
    first.signal("TERM");
    assert_eq!(first.wait(Duration::from_secs(10)), Some(0));
    assert!(std::os::unix::net::UnixStream::connect(&path).is_ok());
    drop(second);
}

/// Runs `splice relay ARGS` for at most 3 s (a relay that started is killed: status 137);
/// its status and stderr.
fn run_briefly(args: &[&str]) -> (Option<i32>, String) {
    let o = std::process::Command::new("timeout")
        .args(["-s", "KILL", "3", crate::util::splice(), "relay"])
        .args(args)
        .output()
        .unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stderr).into())
}

#[test]
fn bad_configurations_fail_at_start_with_usage_status() {
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let p = free.local_addr().unwrap().port().to_string();
    drop(free);
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("x.sock");
    let (lo, any, host) = (
        format!("127.0.0.1:{p}"),
        format!("0.0.0.0:{p}"),
        format!("localhost:{p}"),
    );
    let unix = format!("unix:{}", sock.display());
    let unix_too = format!("unix:{}/./x.sock", dir.path().display());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--idle-timeout", "0", "0", "9"], "--idle-timeout"),
        (
            vec!["--connect-timeout", "0", "0", "9"],
            "--connect-timeout",
        ),
        (vec!["--refuse-excess", "0", "9"], "--refuse-excess"),
        (
            vec!["--refuse-excess", "--max-conns", "0", "0", "9"],
            "--refuse-excess",
        ),
        (vec!["-j", "0", "0", "9"], "-j"),
        (vec![&lo, &lo], "LISTEN address itself"),
        (vec![&lo, "9", &lo], "LISTEN address itself"),
        (vec![&lo, &host], "LISTEN address itself"),
        (vec![&p, &lo], "LISTEN address itself"),
        (vec![&any, &lo], "LISTEN address itself"),
        (vec![&unix, &unix_too], "LISTEN address itself"),
    ];
    for (args, want) in cases {
        let (code, err) = run_briefly(&args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(want),
            "{args:?}: {err}"
        );
        assert!(err.contains("Usage: splice relay"), "{args:?}: {err}");
    }
    assert!(!sock.exists(), "no socket file is left behind");
}

/// The relay's worker threads (`relay-N`), once at least `want` have started (or after 3 s).
fn workers(r: &Relay, want: usize) -> usize {
    let t = std::time::Instant::now();
    loop {
        let n = r
            .thread_cpu_ticks()
            .iter()
            .filter(|(name, _)| name.starts_with("relay-"))
            .count();
        if n >= want || t.elapsed() > Duration::from_secs(3) {
            return n;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn jobs_default_to_the_cpus_the_process_may_run_on() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let up = l.local_addr().unwrap().to_string();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let r = Relay::start(&up, &[]);
    assert_eq!(workers(&r, cpus), cpus);
    drop(r);
    if !crate::util::have("taskset", "pinning the relay to one CPU") {
        return;
    }
    // Pinned to the first CPU this process may use, the relay runs one worker.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let allowed = status.split("Cpus_allowed_list:").nth(1).unwrap().trim();
    let first = allowed.split(|c: char| !c.is_ascii_digit()).next().unwrap();
    let r = Relay::start_with(&["taskset", "-c", first], "127.0.0.1:0", &up, &[]);
    assert_eq!(workers(&r, 2), 1);
}

#[test]
fn connections_cut_after_the_grace_period_are_logged_and_the_status_says_so() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let up = l.local_addr().unwrap().to_string();
    for strategy in ["splice", "copy"] {
        let mut relay = Relay::start(&up, &["--grace", "300ms", "--strategy", strategy]);
        let (mut c, mut s) = through(&relay, &l);
        c.write_all(b"hello").unwrap();
        s.read_exact(&mut [0; 5]).unwrap();
        s.write_all(b"hi").unwrap();
        c.read_exact(&mut [0; 2]).unwrap();
        relay.signal("INT");
        assert_eq!(relay.wait(Duration::from_secs(10)), Some(1), "{strategy}");
        let line = relay.wait_log(|l| l.contains("cut at the end of the 300ms grace period"));
        assert!(line.contains("(up 5 down 2 bytes"), "{strategy}: {line}");
        relay.wait_log(|l| l.ends_with("1 connection(s) cut at the end of the 300ms grace period"));
        assert_reset(&mut c, "client of a cut connection");
        assert_reset(&mut s, "upstream of a cut connection");
    }
}

/// The next connection `l` accepts within `limit`, if any.
fn accept_within(l: &TcpListener, limit: Duration) -> Option<TcpStream> {
    l.set_nonblocking(true).unwrap();
    let t = std::time::Instant::now();
    let got = loop {
        match l.accept() {
            Ok((s, _)) => break Some(s),
            Err(_) if t.elapsed() < limit => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break None,
        }
    };
    l.set_nonblocking(false).unwrap();
    got.inspect(|s| s.set_nonblocking(false).unwrap())
}

#[test]
fn max_lifetime_frees_a_slot_held_by_a_trickling_client() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let up = l.local_addr().unwrap().to_string();
    let args = ["--max-conns", "1", "--max-lifetime", "1s"];
    for strategy in ["splice", "copy"] {
        let relay = Relay::start(&up, &[&args[..], &["--strategy", strategy]].concat());
        let (c, mut s) = through(&relay, &l);
        // One byte every 300 ms (never idle) until the relay resets the connection.
        let trickle = std::thread::spawn(move || {
            let mut c = c;
            (0..20).any(|_| {
                std::thread::sleep(Duration::from_millis(300));
                c.write_all(b".").is_err()
            })
        });
        // A second client waits for the only slot, and gets it.
        let _second = TcpStream::connect(&relay.addr).unwrap();
        let next = accept_within(&l, Duration::from_secs(5));
        assert!(next.is_some(), "{strategy}: {:#?}", relay.log());
        assert!(
            trickle.join().unwrap(),
            "{strategy}: the trickle was never cut"
        );
        let mut seen = Vec::new();
        let r = s.read_to_end(&mut seen);
        assert!(
            !seen.is_empty() && seen.iter().all(|&b| b == b'.'),
            "{seen:?}"
        );
        assert!(
            matches!(&r, Err(e) if e.kind() == ErrorKind::ConnectionReset),
            "{strategy}: {r:?}"
        );
        let line = relay.wait_log(|l| l.contains("open longer than --max-lifetime 1s"));
        assert!(
            line.contains(&format!("(up {} down 0 bytes", seen.len())),
            "{line}"
        );
    }
}
