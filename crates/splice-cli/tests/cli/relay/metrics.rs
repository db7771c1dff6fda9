//! `--metrics ADDR` (Prometheus text over HTTP) and `SIGUSR1` (the same on stderr): the
//! counters after real connections through a relay with a refusing and a live upstream.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

use super::Relay;
use crate::util::*;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An upstream that echoes every connection until its EOF.
fn echo_upstream() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for mut s in l.incoming().map_while(Result::ok) {
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = s.shutdown(Shutdown::Write);
            });
        }
    });
    addr
}

/// `GET path` on `port`: the status line and the body.
fn get(port: u16, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    let (head, body) = r.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

#[test]
fn metrics_count_real_connections() {
    let up = echo_upstream();
    let refused = format!("127.0.0.1:{}", free_port());
    let port = free_port();
    let (m, one) = (port.to_string(), "1".to_string());
    let relay = Relay::start_with(
        &[],
        "127.0.0.1:0",
        &refused,
        &[&up, "--metrics", &m, "-j", &one],
    );
    for i in 0..3 {
        let payload = data(1000 + i);
        let mut c = TcpStream::connect(&relay.addr).unwrap();
        c.write_all(&payload).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        c.read_to_end(&mut back).unwrap();
        assert_eq!(sha(&back), sha(&payload));
    }
    let t = std::time::Instant::now();
    while relay
        .log()
        .iter()
        .filter(|l| l.contains(" by splice"))
        .count()
        < 3
    {
        assert!(t.elapsed() < Duration::from_secs(20), "{:#?}", relay.log());
        std::thread::sleep(Duration::from_millis(10));
    }
    let (status, body) = get(port, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    let mut v: HashMap<String, u64> = HashMap::new();
    for l in body.lines().filter(|l| !l.starts_with('#')) {
        let (k, n) = l.rsplit_once(' ').unwrap_or_else(|| panic!("{l}"));
        let name = k.split('{').next().unwrap();
        assert!(body.contains(&format!("# TYPE {name} ")), "{l}");
        v.insert(k.to_string(), n.parse().unwrap_or_else(|_| panic!("{l}")));
    }
    let at = |k: &str| v.get(k).copied().unwrap_or_else(|| panic!("{k} in {body}"));
    assert_eq!(at("splice_relay_connections_accepted_total"), 3);
    assert_eq!(at("splice_relay_connections_active"), 0);
    assert_eq!(at("splice_relay_bytes_total{direction=\"up\"}"), 3003);
    assert_eq!(at("splice_relay_bytes_total{direction=\"down\"}"), 3003);
    assert_eq!(
        at("splice_relay_connections_by_path_total{path=\"splice\"}"),
        3
    );
    assert_eq!(
        at("splice_relay_connections_failed_total{side=\"upstream\"}"),
        0
    );
    assert_eq!(
        at("splice_relay_connections_failed_total{side=\"relay\"}"),
        0
    );
    // The refusing upstream is down (for its back-off), the live one took all three.
    assert_eq!(
        at(&format!(
            "splice_relay_upstream_up{{upstream=\"{refused}\"}}"
        )),
        0
    );
    assert_eq!(
        at(&format!("splice_relay_upstream_up{{upstream=\"{up}\"}}")),
        1
    );
    let used = format!("splice_relay_upstream_connections_total{{upstream=\"{up}\"}}");
    assert_eq!(at(&used), 3);
    assert_eq!(get(port, "/nothing").0, "HTTP/1.1 404 Not Found");
    // SIGUSR1: the same counters on stderr.
    relay.signal("USR1");
    let line = relay.wait_log(|l| l.starts_with("relay: 3 accepted"));
    assert!(
        line.contains("up 3003 down 3003 bytes, 3 by splice"),
        "{line}"
    );
    assert!(
        line.contains(&format!("{refused} down, 0 connections")),
        "{line}"
    );
}

#[test]
fn a_metrics_address_that_cannot_be_bound_fails_at_start() {
    let d = Dir::new();
    let o = sh(
        "$S relay --metrics 192.0.2.1:9 127.0.0.1:0 127.0.0.1:9",
        d.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("relay: --metrics 192.0.2.1:9: "), "{err}");
}
