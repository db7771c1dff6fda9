//! `splice relay LISTEN UP1 UP2 ...`: --balance roundrobin, first and leastconn; an upstream
//! that refuses is skipped (and marked down) with no byte lost, the PROXY header re-sent to
//! the next one; every upstream down resets the client; --log names the upstream used.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use super::Relay;
use crate::util::{data, sha};

/// A port nothing listens on (connects to it are refused).
fn dead() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// `n` upstream listeners, non-blocking (polled by `accept_any`), and their addresses.
fn upstreams(n: usize) -> (Vec<TcpListener>, Vec<String>) {
    let ls: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    for l in &ls {
        l.set_nonblocking(true).unwrap();
    }
    let names = ls
        .iter()
        .map(|l| l.local_addr().unwrap().to_string())
        .collect();
    (ls, names)
}

/// The next connection on any of `ls` (within 5 s): which listener, and the stream.
fn accept_any(ls: &[TcpListener]) -> (usize, TcpStream) {
    let t = Instant::now();
    loop {
        for (i, l) in ls.iter().enumerate() {
            match l.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    return (i, s);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "no upstream connection"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A client that sends `head` and 100,000 bytes through the relay; the upstream that gets it
/// checks `head` (as is) and the bytes by hash, and answers. Which upstream it was.
fn one(relay: &str, ls: &[TcpListener], head: &[u8]) -> usize {
    let mut c = TcpStream::connect(relay).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let body = data(100_000);
    let want = sha(&body);
    let sent = [head, &body].concat();
    let w = std::thread::spawn(move || {
        c.write_all(&sent).unwrap();
        c
    });
    let (i, mut s) = accept_any(ls);
    let mut got = vec![0; head.len() + 100_000];
    s.read_exact(&mut got).unwrap();
    assert_eq!(&got[..head.len()], head);
    assert_eq!(sha(&got[head.len()..]), want);
    super::reply_and_check(s, w, b"ok");
    i
}

#[test]
fn a_refusing_upstream_is_skipped_and_the_others_take_turns() {
    let (ls, names) = upstreams(2);
    let down = dead();
    let (a, b) = (names[0].as_str(), names[1].as_str());
    let args = ["--accept-proxy", "--send-proxy", a, b];
    let relay = Relay::start(&down, &args);
    let head = b"PROXY TCP4 192.0.2.9 198.51.100.1 1000 80\r\n";
    let used: Vec<usize> = (0..6).map(|_| one(&relay.addr, &ls, head)).collect();
    // In turn (3 and 3, unless the machine is so slow the back-off ended meanwhile).
    for i in 0..2 {
        assert!(used.iter().filter(|&&j| j == i).count() >= 2, "{used:?}");
    }
    // The first connection tried the refusing upstream first, and went on.
    relay.wait_log(|l| {
        l == format!(
            "relay: 192.0.2.9:1000: upstream {down}: connect: Connection refused \
             (down for 2s); trying the next"
        )
    });
    // One line per connection, naming the upstream it used.
    let to = |u: &str| format!("relay: 192.0.2.9:1000 -> {u}: up 100000 down 2 ");
    let t = Instant::now();
    while relay.log().iter().filter(|l| l.contains(" -> ")).count() < 7 {
        assert!(t.elapsed() < Duration::from_secs(5), "{:#?}", relay.log());
        std::thread::sleep(Duration::from_millis(10));
    }
    for (i, u) in names.iter().enumerate() {
        let n = relay.log().iter().filter(|l| l.starts_with(&to(u))).count();
        let want = used.iter().filter(|&&j| j == i).count();
        assert_eq!(n, want, "{u}: {:#?}", relay.log());
    }
}

#[test]
fn first_keeps_to_the_first_up_and_leastconn_to_the_least_busy() {
    let (mut ls, names) = upstreams(2);
    let (a, b) = (names[0].as_str(), names[1].as_str());
    let relay = Relay::start(a, &["--balance", "first", b]);
    let used: Vec<usize> = (0..3).map(|_| one(&relay.addr, &ls, b"")).collect();
    assert_eq!(used, [0, 0, 0]);
    // The first one goes away: the next connection fails over to the second.
    let gone = ls.remove(0);
    drop(gone);
    let (l0, l1) = (TcpListener::bind("127.0.0.1:0").unwrap(), ls);
    l0.set_nonblocking(true).unwrap();
    let both = [l0, l1.into_iter().next().unwrap()];
    assert_eq!(one(&relay.addr, &both, b""), 1);
    relay.wait_log(|l| {
        l.contains(&format!(
            "upstream {a}: connect: Connection refused (down for 2s); trying the next"
        ))
    });
    relay.wait_log(|l| l.contains(&format!(" -> {b}: up 100000 down 2 ")));

    let (ls, names) = upstreams(2);
    let relay = Relay::start(&names[0], &["--balance", "leastconn", &names[1]]);
    let hold = || {
        let mut c = TcpStream::connect(&relay.addr).unwrap();
        c.write_all(b"x").unwrap();
        let (i, mut s) = accept_any(&ls);
        s.read_exact(&mut [0]).unwrap();
        (i, c, s)
    };
    let (x, c1, s1) = hold();
    let (y, _c2, _s2) = hold();
    assert_ne!(x, y, "the second connection goes to the idle upstream");
    let port = c1.local_addr().unwrap().port();
    drop((c1, s1));
    relay.wait_log(|l| l.starts_with(&format!("relay: 127.0.0.1:{port} -> ")));
    let (z, _c3, _s3) = hold();
    assert_eq!(z, x, "the third goes where the first ended");
}

#[test]
fn with_every_upstream_down_the_client_is_reset_and_a_returning_one_used_at_once() {
    let (d1, d2) = (dead(), dead());
    let relay = Relay::start(&d1, &[&d2]);
    let reset = || {
        let mut c = TcpStream::connect(&relay.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let r = c.read(&mut [0; 8]);
        assert!(
            matches!(&r, Err(e) if e.kind() == ErrorKind::ConnectionReset),
            "{r:?}"
        );
    };
    reset();
    relay.wait_log(|l| {
        l.ends_with(&format!(
            "upstream {d1}: connect: Connection refused (down for 2s); trying the next"
        ))
    });
    relay.wait_log(|l| {
        l.ends_with(&format!(
            "upstream {d2}: connect: Connection refused (down for 2s)"
        ))
    });
    // Both down: both still tried (no new back-off), the client reset again.
    reset();
    relay.wait_log(|l| {
        l.ends_with(&format!(
            "upstream {d1}: connect: Connection refused; trying the next"
        ))
    });
    relay.wait_log(|l| l.ends_with(&format!("upstream {d2}: connect: Connection refused")));
    // The first comes back within its back-off: used at once, and up again.
    let Ok(back) = TcpListener::bind(&d1) else {
        return crate::util::skip("the freed port was taken meanwhile");
    };
    back.set_nonblocking(true).unwrap();
    assert_eq!(one(&relay.addr, &[back], b""), 0);
    relay.wait_log(|l| l.contains(&format!(" -> {d1}: up 100000 down 2 ")));
}
