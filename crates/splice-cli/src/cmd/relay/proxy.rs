//! The PROXY protocol header (HAProxy's `proxy-protocol.txt`): the one `--send-proxy[-v2]`
//! writes ahead of the client's bytes on each upstream connection, so the upstream learns who
//! the client is, and the one `--accept-proxy` reads (strictly) from a load balancer in front.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

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

/// A client's source and the address it connected to; `None`: use the connection's own.
pub type Origin = Option<(SocketAddr, SocketAddr)>;

/// The longest v1 line, CRLF included (the spec's bound).
const V1_MAX: usize = 107;

/// The largest v2 address block (addresses and TLVs) accepted: room for a Unix address
/// (216 bytes) and the TLVs load balancers add; more is refused as malformed.
pub const V2_MAX_BLOCK: usize = 1024;

/// What the bytes read so far make of a PROXY header.
#[derive(Debug, PartialEq, Eq)]
pub enum Parse {
    /// The header is longer than what was given: every byte given belongs to it.
    More,
    /// A complete header of this many bytes (what follows is the client's) and what it said.
    Done(usize, Origin),
    /// Not a valid header: why.
    Bad(String),
}

/// Parses a PROXY v1 or v2 header at the start of `b`, strictly: a missing signature, a v1
/// line over 107 bytes or not ended by CRLF, an address or port that does not parse, a v2
/// block over [`V2_MAX_BLOCK`] or too short for its family, an unknown version, command or
/// family are all refused. `UNKNOWN` (v1), `LOCAL`, `UNSPEC` and Unix addresses (v2) say:
/// use the connection's own addresses.
pub fn parse(b: &[u8]) -> Parse {
    const V1: &[u8] = b"PROXY ";
    let n = b.len().min(SIG.len());
    if b[..n] == SIG[..n] {
        return if n < SIG.len() {
            Parse::More
        } else {
            parse_v2(b)
        };
    }
    let n = b.len().min(V1.len());
    if b[..n] == V1[..n] {
        return if n < V1.len() {
            Parse::More
        } else {
            parse_v1(b)
        };
    }
    let seen = b.iter().take(16).copied().collect::<Vec<u8>>();
    Parse::Bad(format!(
        "no PROXY header (it starts \"{}\")",
        seen.escape_ascii()
    ))
}

fn parse_v1(b: &[u8]) -> Parse {
    let Some(i) = b
        .iter()
        .take(V1_MAX)
        .position(|&c| c == b'\r' || c == b'\n')
    else {
        return if b.len() >= V1_MAX {
            Parse::Bad(format!("v1 line longer than {V1_MAX} bytes"))
        } else {
            Parse::More
        };
    };
    match b.get(i..i + 2) {
        _ if b[i] == b'\n' || i + 2 > V1_MAX => {
            Parse::Bad(format!("v1 line not ended by CRLF within {V1_MAX} bytes"))
        }
        None => Parse::More,
        Some(end) if end != b"\r\n" => Parse::Bad("v1 line not ended by CRLF".into()),
        Some(_) => match v1_fields(&b[..i]) {
            Ok(o) => Parse::Done(i + 2, o),
            Err(e) => Parse::Bad(format!("v1: {e}")),
        },
    }
}

/// `PROXY TCP4|TCP6 SRC DST SPORT DPORT` or `PROXY UNKNOWN[ anything]`, without the CRLF.
fn v1_fields(line: &[u8]) -> Result<Origin, String> {
    let line = std::str::from_utf8(line).map_err(|_| "not ASCII")?;
    let f: Vec<&str> = line.split(' ').collect();
    let six = match f.get(1) {
        Some(&"UNKNOWN") => return Ok(None),
        Some(&"TCP4") => false,
        Some(&"TCP6") => true,
        _ => return Err(format!("unknown protocol in \"{}\"", line.escape_debug())),
    };
    let [_, _, src, dst, sp, dp] = f[..] else {
        return Err(format!("not 6 fields: \"{}\"", line.escape_debug()));
    };
    let ip = |s: &str| -> Result<IpAddr, String> {
        let r = if six {
            s.parse::<Ipv6Addr>().map(IpAddr::V6)
        } else {
            s.parse::<Ipv4Addr>().map(IpAddr::V4)
        };
        r.map_err(|_| format!("bad {} address \"{}\"", f[1], s.escape_debug()))
    };
    let port = |s: &str| -> Result<u16, String> {
        let plain = !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
        match s.parse::<u16>() {
            Ok(p) if plain && (s == "0" || !s.starts_with('0')) => Ok(p),
            _ => Err(format!("bad port \"{}\"", s.escape_debug())),
        }
    };
    let src = SocketAddr::new(ip(src)?, port(sp)?);
    Ok(Some((src, SocketAddr::new(ip(dst)?, port(dp)?))))
}

fn parse_v2(b: &[u8]) -> Parse {
    let Some(&[vc, fam, l0, l1]) = b.get(12..16) else {
        return Parse::More;
    };
    let len = usize::from(u16::from_be_bytes([l0, l1]));
    if vc >> 4 != 2 {
        return Parse::Bad(format!("v2: unknown version {}", vc >> 4));
    }
    if vc & 15 > 1 {
        return Parse::Bad(format!("v2: unknown command {}", vc & 15));
    }
    if len > V2_MAX_BLOCK {
        return Parse::Bad(format!(
            "v2: address block of {len} bytes is too long (at most {V2_MAX_BLOCK})"
        ));
    }
    let need = match (fam >> 4, fam & 15) {
        (_, 3..) | (4.., _) => return Parse::Bad(format!("v2: unknown family 0x{fam:02x}")),
        (0, _) => 0,
        (1, _) => 12,
        (2, _) => 36,
        _ => 216,
    };
    if len < need {
        return Parse::Bad(format!(
            "v2: address block of {len} bytes is too short for family 0x{fam:02x}"
        ));
    }
    let Some(a) = b.get(16..16 + len) else {
        return Parse::More;
    };
    // LOCAL (a health check by the balancer itself), UNSPEC and Unix: the connection's own.
    if vc & 15 == 0 || !(1..=2).contains(&(fam >> 4)) {
        return Parse::Done(16 + len, None);
    }
    let (src, dst, ports): (IpAddr, IpAddr, &[u8]) = if fam >> 4 == 1 {
        let ip = |i: usize| Ipv4Addr::from(<[u8; 4]>::try_from(&a[i..i + 4]).unwrap_or_default());
        (ip(0).into(), ip(4).into(), &a[8..12])
    } else {
        let ip = |i: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&a[i..i + 16]).unwrap_or_default());
        (ip(0).into(), ip(16).into(), &a[32..36])
    };
    let sp = u16::from_be_bytes([ports[0], ports[1]]);
    let dp = u16::from_be_bytes([ports[2], ports[3]]);
    let o = (SocketAddr::new(src, sp), SocketAddr::new(dst, dp));
    Parse::Done(16 + len, Some(o))
}

#[cfg(test)]
mod tests {
    use super::{header, parse, Parse, Version};
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

    /// Every prefix of a header is `More`, the header and any bytes after it are `Done`.
    fn whole(h: &[u8]) -> Parse {
        for i in 0..h.len() {
            assert_eq!(parse(&h[..i]), Parse::More, "{:?}", &h[..i]);
        }
        let mut more = h.to_vec();
        more.extend_from_slice(b"client bytes\r\n");
        let p = parse(&more);
        assert_eq!(p, parse(h));
        p
    }

    #[test]
    fn parses_what_header_writes() {
        let cases = [
            Some((a("192.168.0.1:56324"), a("192.168.0.11:443"))),
            Some((a("[2001:db8::1]:1"), a("[::1]:65535"))),
            Some((a("0.0.0.0:0"), a("255.255.255.255:65535"))),
        ];
        for o in cases {
            for v in [Version::V1, Version::V2] {
                let h = header(v, o);
                assert_eq!(whole(&h), Parse::Done(h.len(), o), "{v:?} {o:?}");
            }
        }
        for v in [Version::V1, Version::V2] {
            let h = header(v, None);
            assert_eq!(whole(&h), Parse::Done(h.len(), None), "{v:?}");
        }
        let h = b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n";
        assert_eq!(whole(h), Parse::Done(h.len(), None));
    }

    #[test]
    fn v2_tlvs_are_skipped_and_unix_or_unspec_mean_the_connection() {
        let mut h = header(Version::V2, Some((a("10.0.0.1:80"), a("10.0.0.2:81"))));
        h[15] += 7;
        h.extend([0x04, 0, 4, b'n', b'o', b'o', b'p']);
        let o = Some((a("10.0.0.1:80"), a("10.0.0.2:81")));
        assert_eq!(whole(&h), Parse::Done(35, o));
        let mut u = SIG.to_vec();
        u.extend([0x21, 0x31, 0, 216]);
        u.resize(16 + 216, b'x');
        assert_eq!(whole(&u), Parse::Done(232, None));
        let mut z = SIG.to_vec();
        z.extend([0x21, 0x00, 0, 3, 1, 2, 3]);
        assert_eq!(whole(&z), Parse::Done(19, None));
    }

    use super::SIG;

    #[test]
    fn refuses_what_is_not_a_header() {
        let v2 = |vc: u8, fam: u8, len: u16| {
            let mut h = SIG.to_vec();
            h.extend([vc, fam]);
            h.extend(len.to_be_bytes());
            h.resize(16 + usize::from(len).min(64), 0);
            h
        };
        let long = [b"PROXY TCP4 ".as_slice(), &[b'1'; 100]].concat();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"GET / HTTP/1.0\r\n\r\n".to_vec(), "no PROXY header"),
            (b"proxy TCP4".to_vec(), "no PROXY header"),
            (b"\r\n\r\n\0\r\nQUIX\n!".to_vec(), "no PROXY header"),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n".to_vec(), "CRLF"),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX".to_vec(), "CRLF"),
            (long, "longer than 107"),
            (b"PROXY TCP4 1.2.3.400 5.6.7.8 1 2\r\n".to_vec(), "address"),
            (b"PROXY TCP4 ::1 ::1 1 2\r\n".to_vec(), "address"),
            (b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n".to_vec(), "address"),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n".to_vec(), "port"),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n".to_vec(), "port"),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n".to_vec(), "port"),
            (b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n".to_vec(), "fields"),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n".to_vec(), "fields"),
            (b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n".to_vec(), "protocol"),
            (v2(0x11, 0x11, 12), "version"),
            (v2(0x22, 0x11, 12), "command"),
            (v2(0x21, 0x11, 0xffff), "too long"),
            (v2(0x21, 0x11, 11), "too short"),
            (v2(0x21, 0x21, 12), "too short"),
            (v2(0x21, 0x41, 12), "family"),
            (v2(0x21, 0x13, 12), "family"),
        ];
        for (b, want) in cases {
            match parse(&b) {
                Parse::Bad(e) => assert!(e.contains(want), "{:?}: {e}", b.escape_ascii()),
                p => panic!("{:?}: {p:?}", b.escape_ascii().to_string()),
            }
        }
    }
}
