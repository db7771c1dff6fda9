//! `splice relay --send-proxy[-v2]`: the PROXY protocol header (HAProxy's proxy-protocol.txt)
//! checked byte by byte ahead of the client's bytes, for IPv4, IPv6 and Unix clients.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::Relay;
use crate::util::{data, sha, skip};

const SIG: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The v2 header a TCP client at `src` gets, having connected to the relay at `dst`.
fn v2(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let mut h = SIG.to_vec();
    let (fam, ips) = match (src, dst) {
        (SocketAddr::V4(s), SocketAddr::V4(d)) => {
            (0x11, [s.ip().octets(), d.ip().octets()].concat())
        }
        (SocketAddr::V6(s), SocketAddr::V6(d)) => {
            (0x21, [s.ip().octets(), d.ip().octets()].concat())
        }
        _ => unreachable!(),
    };
    h.extend([0x21, fam]);
    h.extend(((ips.len() + 4) as u16).to_be_bytes());
    h.extend(ips);
    h.extend(src.port().to_be_bytes());
    h.extend(dst.port().to_be_bytes());
    h
}

/// Sends 100,000 bytes through `client`, reads them at the upstream after `want` (the header),
/// and checks the header byte by byte and the payload by hash; then an answer comes back.
fn check(mut client: impl Read + Write + Send + 'static, l: &TcpListener, want: &[u8], what: &str) {
    let body = data(100_000);
    let sent = sha(&body);
    let w = std::thread::spawn(move || {
        client.write_all(&body).unwrap();
        client
    });
    let (mut s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = vec![0; want.len()];
    s.read_exact(&mut head).unwrap();
    assert_eq!(head, want, "{what}: {:?}", String::from_utf8_lossy(&head));
    let mut got = vec![0; 100_000];
    s.read_exact(&mut got).unwrap();
    assert_eq!(sha(&got), sent, "{what}");
    s.write_all(b"answer").unwrap();
    let mut client = w.join().unwrap();
    let mut a = [0; 6];
    client.read_exact(&mut a).unwrap();
    assert_eq!(&a, b"answer", "{what}");
}

#[test]
fn send_proxy_prepends_the_v1_or_v2_header_for_tcp_clients() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let up = l.local_addr().unwrap().to_string();
    let v6 = TcpListener::bind("[::1]:0").is_ok();
    if !v6 {
        skip("no IPv6 loopback: the TCP6 headers are not checked");
    }
    for flag in ["--send-proxy", "--send-proxy-v2"] {
        for listen in ["127.0.0.1:0", "[::1]:0"] {
            if listen.starts_with('[') && !v6 {
                continue;
            }
            let relay = Relay::start_with(&[], listen, &up, &[flag]);
            let c = TcpStream::connect(&relay.addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let (src, dst) = (c.local_addr().unwrap(), c.peer_addr().unwrap());
            let want = if flag == "--send-proxy" {
                let proto = if src.is_ipv4() { "TCP4" } else { "TCP6" };
                let (s, d) = (src.ip(), dst.ip());
                let (sp, dp) = (src.port(), dst.port());
                format!("PROXY {proto} {s} {d} {sp} {dp}\r\n").into_bytes()
            } else {
                v2(src, dst)
            };
            check(c, &l, &want, &format!("{flag} {listen}"));
        }
    }
}

#[test]
fn send_proxy_says_unknown_or_local_for_unix_clients() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let up = l.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("front.sock");
    let listen = format!("unix:{}", path.display());
    for (flag, want) in [
        ("--send-proxy", b"PROXY UNKNOWN\r\n".to_vec()),
        ("--send-proxy-v2", [&SIG[..], &[0x20, 0x00, 0, 0]].concat()),
    ] {
        let relay = Relay::start_with(&[], &listen, &up, &[flag]);
        let c = UnixStream::connect(&path).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        check(c, &l, &want, flag);
        drop(relay);
        let _ = std::fs::remove_file(&path);
    }
}
