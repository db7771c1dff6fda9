//! The PROXY protocol header (HAProxy's `proxy-protocol.txt`) that `--send-proxy[-v2]` writes
//! ahead of the client's bytes on each upstream connection, so the upstream learns who the
//! client is.

use std::net::{IpAddr, SocketAddr};

/// Which header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// Text: `PROXY TCP4 SRC DST SPORT DPORT\r\n`.
    V1,
    /// Binary: a 16-byte head, then the addresses.
    V2,
}

/// The v2 signature.
const SIG: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// The header for a client at `src` that connected to the relay at `dst`; `None` for a client
/// without an IP address (a Unix socket): v1 `PROXY UNKNOWN`, v2 a LOCAL command with no
/// address, which tells the upstream to use the connection's own addresses.
pub fn header(v: Version, addrs: Option<(SocketAddr, SocketAddr)>) -> Vec<u8> {
    let addrs = addrs.map(|(s, d)| same_family(s, d));
    match (v, addrs) {
        (Version::V1, None) => b"PROXY UNKNOWN\r\n".to_vec(),
        (Version::V1, Some((s, d))) => {
            let proto = if s.is_ipv4() { "TCP4" } else { "TCP6" };
            let (sp, dp) = (s.port(), d.port());
            format!("PROXY {proto} {} {} {sp} {dp}\r\n", s.ip(), d.ip()).into_bytes()
        }
        (Version::V2, None) => [&SIG[..], &[0x20, 0x00, 0, 0]].concat(),
        (Version::V2, Some((s, d))) => {
            let (fam, ips) = match (s.ip(), d.ip()) {
                (IpAddr::V4(a), IpAddr::V4(b)) => (0x11, [a.octets(), b.octets()].concat()),
                (a, b) => (0x21, [v6(a), v6(b)].concat()),
            };
            let len = u16::try_from(ips.len() + 4).expect("at most 36 bytes");
            let mut h = Vec::with_capacity(16 + usize::from(len));
            h.extend_from_slice(SIG);
            h.extend_from_slice(&[0x21, fam]);
            h.extend_from_slice(&len.to_be_bytes());
            h.extend_from_slice(&ips);
            h.extend_from_slice(&s.port().to_be_bytes());
            h.extend_from_slice(&d.port().to_be_bytes());
            h
        }
    }
}

/// Both addresses in one family: IPv4 when both are IPv4 (or IPv4-mapped IPv6, as a
/// dual-stack listener reports them), else both IPv6.
fn same_family(s: SocketAddr, d: SocketAddr) -> (SocketAddr, SocketAddr) {
    let canon = |a: SocketAddr| SocketAddr::new(a.ip().to_canonical(), a.port());
    let (cs, cd) = (canon(s), canon(d));
    if cs.is_ipv4() && cd.is_ipv4() {
        return (cs, cd);
    }
    let six = |a: SocketAddr| SocketAddr::new(IpAddr::V6(v6(a.ip()).into()), a.port());
    (six(s), six(d))
}

fn v6(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

#[cfg(test)]
mod tests {
    use super::{header, Version};
    use std::net::SocketAddr;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v1_lines() {
        let four = Some((a("192.168.0.1:56324"), a("192.168.0.11:443")));
        assert_eq!(
            header(Version::V1, four),
            b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
        );
        let mapped = Some((a("[::ffff:10.0.0.1]:5"), a("[::ffff:10.0.0.2]:6")));
        assert_eq!(
            header(Version::V1, mapped),
            b"PROXY TCP4 10.0.0.1 10.0.0.2 5 6\r\n"
        );
    }

    #[test]
    fn v2_blocks() {
        let sig = b"\x0d\x0a\x0d\x0a\x00\x0d\x0a\x51\x55\x49\x54\x0a";
        let four = Some((a("10.1.2.3:258"), a("10.4.5.6:443")));
        let mut want = sig.to_vec();
        want.extend([0x21, 0x11, 0, 12, 10, 1, 2, 3, 10, 4, 5, 6, 1, 2, 1, 187]);
        assert_eq!(header(Version::V2, four), want);
        let mixed = Some((a("10.1.2.3:1"), a("[::1]:2")));
        let h = header(Version::V2, mixed);
        assert_eq!(&h[12..16], &[0x21, 0x21, 0, 36]);
        assert_eq!((&h[26..32], h[47]), (&[0xff, 0xff, 10, 1, 2, 3][..], 1));
    }
}
