//! `splice relay --accept-proxy`: PROXY v1 and v2 headers (HAProxy's proxy-protocol.txt) read
//! from the client, whole or byte by byte, the client's first bytes relayed with it; the
//! source passed on by `--send-proxy` (relays chain) and named in `--log`; a missing,
//! malformed or late header closes the connection with a line on stderr, even without --log;
//! HAProxy (when installed) reads what --send-proxy writes and writes what --accept-proxy reads.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use super::Relay;
use crate::util::{data, sha, splice};

const SIG: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
const BODY: usize = 100_000;

/// A v2 header by hand: version 2, `cmd`, family `fam`, then `block`.
fn v2(cmd: u8, fam: u8, block: &[u8]) -> Vec<u8> {
    let mut h = SIG.to_vec();
    h.extend([0x20 | cmd, fam]);
    h.extend((block.len() as u16).to_be_bytes());
    h.extend(block);
    h
}

/// The v1 line a relay with --send-proxy sends for a client at `src` that reached `dst`.
fn v1(src: SocketAddr, dst: SocketAddr) -> String {
    let proto = if src.is_ipv4() { "TCP4" } else { "TCP6" };
    let (sp, dp) = (src.port(), dst.port());
    format!("PROXY {proto} {} {} {sp} {dp}\r\n", src.ip(), dst.ip())
}

/// Reads a line ending in CRLF off `s`, one byte at a time (nothing past it).
fn line(s: &mut TcpStream) -> String {
    let mut v = Vec::new();
    while !v.ends_with(b"\r\n") {
        let mut b = [0];
        s.read_exact(&mut b).unwrap();
        v.push(b[0]);
        assert!(v.len() < 200, "{:?}", String::from_utf8_lossy(&v));
    }
    String::from_utf8(v).unwrap()
}

/// Connects to `relay`, sends `head` (byte by byte, or in one write with the body's first
/// 1,000 bytes), then the rest of a 100,000-byte body; at the upstream, checks the v1 line it
/// gets (`want`, or the client's own addresses) and the body by hash; an answer comes back.
/// Returns the client's address.
fn through(
    relay: &str,
    l: &TcpListener,
    head: &[u8],
    bytewise: bool,
    want: Option<&str>,
) -> SocketAddr {
    let mut c = TcpStream::connect(relay).unwrap();
    c.set_nodelay(true).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let me = c.local_addr().unwrap();
    let own = v1(me, c.peer_addr().unwrap());
    let body = data(BODY);
    let sent = sha(&body);
    let head = head.to_vec();
    let w = std::thread::spawn(move || {
        let first = if bytewise {
            for b in &head {
                c.write_all(&[*b]).unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
            0
        } else {
            c.write_all(&[&head[..], &body[..1000]].concat()).unwrap();
            1000
        };
        c.write_all(&body[first..]).unwrap();
        c
    });
    let (mut s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(line(&mut s), want.unwrap_or(&own));
    let mut got = vec![0; BODY];
    s.read_exact(&mut got).unwrap();
    assert_eq!(sha(&got), sent);
    super::reply_and_check(s, w, b"answer");
    me
}

#[test]
fn accept_proxy_reads_v1_and_v2_whole_or_byte_by_byte_and_passes_the_source_on() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let up = l.local_addr().unwrap().to_string();
    let relay = Relay::start(&up, &["--accept-proxy", "--send-proxy"]);
    let four = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n".to_vec();
    let six = b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 80\r\n".to_vec();
    let mut v2_four = [[10, 1, 2, 3], [10, 4, 5, 6]].concat();
    // A TLV after the addresses (PP2_TYPE_NOOP): skipped.
    v2_four.extend([1, 2, 1, 187, 0x04, 0, 2, b'h', b'i']);
    let mut v2_six = [[0x20, 1, 0xd, 0xb8], [0; 4], [0; 4], [0, 0, 0, 7]].concat();
    v2_six.extend(v2_six.clone());
    v2_six.extend([0x13, 0x88, 0, 80]);
    let cases: Vec<(Vec<u8>, Option<&str>, &str)> = vec![
        (
            four.clone(),
            Some("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"),
            "192.0.2.1:56324",
        ),
        (
            six.clone(),
            Some("PROXY TCP6 2001:db8::1 2001:db8::2 4000 80\r\n"),
            "[2001:db8::1]:4000",
        ),
        (
            v2(1, 0x11, &v2_four),
            Some("PROXY TCP4 10.1.2.3 10.4.5.6 258 443\r\n"),
            "10.1.2.3:258",
        ),
        (
            v2(1, 0x21, &v2_six),
            Some("PROXY TCP6 2001:db8::7 2001:db8::7 5000 80\r\n"),
            "[2001:db8::7]:5000",
        ),
        // LOCAL and UNKNOWN: the connection's own addresses.
        (v2(0, 0x00, &[]), None, ""),
        (b"PROXY UNKNOWN\r\n".to_vec(), None, ""),
    ];
    for bytewise in [false, true] {
        for (head, want, src) in &cases {
            let me = through(&relay.addr, &l, head, bytewise, *want);
            let who = if src.is_empty() {
                me.to_string()
            } else {
                src.to_string()
            };
            let line =
                relay.wait_log(|l| l.starts_with(&format!("relay: {who} -> {up}: up {BODY} ")));
            assert!(line.contains("down 6 bytes"), "{line}");
        }
    }
    let n = relay.log().iter().filter(|l| l.contains(" -> ")).count();
    assert_eq!(n, 1 + 2 * cases.len(), "{:#?}", relay.log());
}

#[test]
fn relays_chain_with_send_proxy_and_accept_proxy() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let up = l.local_addr().unwrap().to_string();
    for send in ["--send-proxy", "--send-proxy-v2"] {
        let back = Relay::start(&up, &["--accept-proxy", "--send-proxy"]);
        let front = Relay::start(&back.addr, &[send]);
        // The upstream gets the first client's addresses as the front relay saw them (what
        // `through` expects with no header of its own), and the back relay logs that client.
        let me = through(&front.addr, &l, b"", false, None);
        back.wait_log(|l| l.starts_with(&format!("relay: {me} -> {up}: up {BODY} down 6")));
    }
}

/// Sends `bytes` (then half-closes, if `close`) and waits for the relay to end the
/// connection: an EOF or a reset, within 5 s. Returns the client's address.
fn refused(relay: &str, bytes: &[u8], close: bool) -> SocketAddr {
    let mut c = TcpStream::connect(relay).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = c.write_all(bytes);
    if close {
        c.shutdown(std::net::Shutdown::Write).unwrap();
    }
    let mut b = [0; 64];
    let r = c.read(&mut b);
    assert!(
        matches!(&r, Ok(0)) || matches!(&r, Err(e) if e.kind() == ErrorKind::ConnectionReset),
        "{:?}: {r:?}",
        bytes.escape_ascii().to_string()
    );
    c.local_addr().unwrap()
}

#[test]
fn a_missing_malformed_or_late_header_closes_the_connection_with_a_line() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let up = l.local_addr().unwrap().to_string();
    let relay = Relay::start(&up, &["--accept-proxy", "--connect-timeout", "500ms"]);
    let long = [b"PROXY TCP4 ".as_slice(), &[b'1'; 120]].concat();
    let cases: Vec<(Vec<u8>, bool, &str)> = vec![
        (
            b"GET / HTTP/1.0\r\n\r\n".to_vec(),
            false,
            "no PROXY header (it starts \"GET / HTTP/1.0\\r\\n",
        ),
        (
            v2(1, 0x11, &[0; 12])
                .into_iter()
                .map(|b| if b == b'Q' { b'q' } else { b })
                .collect(),
            false,
            "no PROXY header",
        ),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n".to_vec(), false, "CRLF"),
        (long, false, "v1 line longer than 107 bytes"),
        (
            b"PROXY TCP4 1.2.3.400 5.6.7.8 1 2\r\n".to_vec(),
            false,
            "bad TCP4 address \"1.2.3.400\"",
        ),
        (
            b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n".to_vec(),
            false,
            "bad TCP6 address \"1.2.3.4\"",
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n".to_vec(),
            false,
            "bad port \"65536\"",
        ),
        (
            [&SIG[..], &[0x31, 0x11, 0, 12]].concat(),
            false,
            "v2: unknown version 3",
        ),
        (
            [&SIG[..], &[0x2f, 0x11, 0, 12]].concat(),
            false,
            "v2: unknown command 15",
        ),
        (
            [&SIG[..], &[0x21, 0x11, 0xff, 0xff]].concat(),
            false,
            "v2: address block of 65535 bytes is too long",
        ),
        (
            b"PROXY TCP4 1.2.3".to_vec(),
            true,
            "the client closed after 16 byte(s) of it",
        ),
        (Vec::new(), true, "the client closed before sending it"),
        (b"PROXY TCP4 ".to_vec(), false, "timed out after 500ms"),
    ];
    for (bytes, close, want) in cases {
        let me = refused(&relay.addr, &bytes, close);
        let line = relay.wait_log(|l| l.starts_with(&format!("relay: {me}: PROXY header: ")));
        assert!(line.contains(want), "{want}: {line}");
    }
    // None of them reached the upstream.
    let r = l.accept().map(|_| ());
    assert!(
        matches!(&r, Err(e) if e.kind() == ErrorKind::WouldBlock),
        "{r:?}"
    );
}

#[test]
fn a_bad_header_is_reported_without_log_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("front.sock");
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let up = l.local_addr().unwrap().to_string();
    let listen = format!("unix:{}", path.display());
    let mut child = std::process::Command::new(splice())
        .args(["relay", "--accept-proxy", &listen, &up])
        .args(super::engine_args())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Its stderr, line by line (the line comes once the connection is closed).
    let (tx, rx) = std::sync::mpsc::channel();
    let err = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        err.lines()
            .map_while(Result::ok)
            .for_each(|l| drop(tx.send(l)))
    });
    let t = Instant::now();
    let mut c = loop {
        match std::os::unix::net::UnixStream::connect(&path) {
            Ok(c) => break c,
            Err(e) => assert!(t.elapsed() < Duration::from_secs(5), "{e}"),
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"SSH-2.0-x\r\n").unwrap();
    let mut v = Vec::new();
    let r = c.read_to_end(&mut v);
    let line = rx.recv_timeout(Duration::from_secs(5));
    let _ = child.kill();
    let _ = child.wait();
    // Closed with the unread bytes queued: a Unix stream peer sees a reset.
    let reset = matches!(&r, Err(e) if e.kind() == ErrorKind::ConnectionReset);
    assert!((r.is_ok() || reset) && v.is_empty(), "{r:?}");
    assert_eq!(
        line.as_deref(),
        Ok("relay: unix: PROXY header: no PROXY header (it starts \"SSH-2.0-x\\r\\n\")")
    );
}

/// A foreground HAProxy (TCP mode) killed when dropped, and its configuration's directory.
struct Haproxy {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// HAProxy on a free loopback port: `bind ... accept-proxy`, one server `to` with `send`
/// (`send-proxy` or `send-proxy-v2`). Its address, once it accepts connections.
fn haproxy(to: &str, send: &str) -> (Haproxy, String) {
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let at = free.local_addr().unwrap().to_string();
    drop(free);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("relay.cfg");
    let text = format!(
        "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 10s\n  \
         timeout server 10s\nfrontend f\n  bind {at} accept-proxy\n  default_backend b\n\
         backend b\n  server s1 {to} {send}\n"
    );
    std::fs::write(&cfg, text).unwrap();
    let child = std::process::Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let h = Haproxy { child, _dir: dir };
    let t = Instant::now();
    while TcpStream::connect(&at).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "haproxy did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (h, at)
}

#[test]
fn haproxy_reads_what_send_proxy_writes_and_writes_what_accept_proxy_reads() {
    let v = std::process::Command::new("haproxy").arg("-v").output();
    if !v.is_ok_and(|o| o.status.success()) {
        return crate::util::skip("haproxy is not installed (PROXY protocol interop)");
    }
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let up = l.local_addr().unwrap().to_string();
    // client -> relay --send-proxy[-v2] -> HAProxy (accept-proxy, send-proxy[-v2]) ->
    // relay --accept-proxy --send-proxy -> upstream: the upstream learns the first client.
    for (ours, theirs) in [
        ("--send-proxy", "send-proxy-v2"),
        ("--send-proxy-v2", "send-proxy"),
    ] {
        let back = Relay::start(&up, &["--accept-proxy", "--send-proxy"]);
        let (_h, at) = haproxy(&back.addr, theirs);
        let front = Relay::start(&at, &[ours]);
        let me = through(&front.addr, &l, b"", false, None);
        back.wait_log(|l| l.starts_with(&format!("relay: {me} -> {up}: up {BODY} down 6")));
    }
}
