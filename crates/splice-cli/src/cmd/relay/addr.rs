//! The relay's addresses: `PORT`, `HOST:PORT`, `[V6]:PORT` or `unix:/path`; binding the
//! listeners (one per worker, `SO_REUSEPORT` for TCP) and connecting upstream.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use rustix::net::{sockopt, AddressFamily, SocketFlags, SocketType};

use crate::util::strerror;

/// An address to connect to.
#[derive(Debug, Clone)]
pub enum Endpoint {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl Endpoint {
    /// `unix:/path`, `PORT` (127.0.0.1), or anything `ToSocketAddrs` resolves (first result).
    pub fn parse(s: &str) -> Result<Endpoint, String> {
        if let Some(p) = s.strip_prefix("unix:") {
            if p.is_empty() {
                return Err(format!("'{s}': empty socket path"));
            }
            return Ok(Endpoint::Unix(PathBuf::from(p)));
        }
        if let Ok(port) = s.parse::<u16>() {
            return Ok(Endpoint::Tcp(SocketAddr::from(([127, 0, 0, 1], port))));
        }
        match s.to_socket_addrs() {
            Ok(mut it) => it
                .next()
                .map(Endpoint::Tcp)
                .ok_or_else(|| format!("'{s}': no address")),
            Err(e) => Err(format!("'{s}': {e}")),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(a) => a.fmt(f),
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// Where to listen, and for a Unix socket, the device and inode of the file bound there.
pub struct Listen(Endpoint, Option<(u64, u64)>);

/// A bound, listening socket, not yet registered with a runtime.
pub enum Bound {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

impl Bound {
    pub fn local_name(&self) -> String {
        match self {
            Bound::Tcp(l) => l
                .local_addr()
                .map_or_else(|_| "?".into(), |a| a.to_string()),
            Bound::Unix(l) => l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| format!("unix:{}", p.display())))
                .unwrap_or_else(|| "unix:?".into()),
        }
    }
}

impl Listen {
    pub fn parse(s: &str) -> Result<Listen, String> {
        Endpoint::parse(s).map(|e| Listen(e, None))
    }

    /// One listener per worker: for TCP, `jobs` sockets on the same address with
    /// `SO_REUSEPORT` (a port 0 is fixed by the first); a Unix socket is bound once and shared.
    pub fn bind(&mut self, jobs: usize) -> io::Result<Vec<Bound>> {
        match &self.0 {
            Endpoint::Tcp(addr) => {
                let mut addr = *addr;
                let mut v = Vec::with_capacity(jobs);
                for _ in 0..jobs {
                    let l = tcp_listener(addr)?;
                    addr = l.local_addr()?;
                    v.push(Bound::Tcp(l));
                }
                Ok(v)
            }
            Endpoint::Unix(path) => {
                let l = match std::os::unix::net::UnixListener::bind(path) {
                    // A socket file left by a relay that died: nobody accepts on it, so it
                    // is replaced. A live one (or any other file) is an error.
                    Err(e) if e.kind() == io::ErrorKind::AddrInUse && is_stale_socket(path) => {
                        std::fs::remove_file(path)?;
                        std::os::unix::net::UnixListener::bind(path)?
                    }
                    r => r?,
                };
                l.set_nonblocking(true)?;
                self.1 = file_id(path);
                let mut v = Vec::with_capacity(jobs);
                for _ in 1..jobs {
                    v.push(Bound::Unix(l.try_clone()?));
                }
                v.push(Bound::Unix(l));
                Ok(v)
            }
        }
    }

    /// The address in `upstream` (as given on the command line) that reaches this listener
    /// itself, if any: relaying there would feed every connection back into the relay.
    pub fn loop_in(&self, upstream: &str) -> Option<String> {
        match (&self.0, Endpoint::parse(upstream).ok()?) {
            (Endpoint::Unix(l), Endpoint::Unix(u)) => {
                (absolute(l) == absolute(&u)).then(|| format!("unix:{}", u.display()))
            }
            (Endpoint::Tcp(l), Endpoint::Tcp(u)) => {
                let all: Vec<SocketAddr> = match upstream.parse::<u16>() {
                    Ok(_) => vec![u],
                    Err(_) => upstream.to_socket_addrs().ok()?.collect(),
                };
                all.into_iter()
                    .find(|&u| reaches(*l, u))
                    .map(|u| u.to_string())
            }
            _ => None,
        }
    }

    /// Removes the Unix socket file the relay created, if the path still names it: not a file
    /// put there since, nor the socket of another relay that took the path over.
    pub fn cleanup(&self) {
        if let (Endpoint::Unix(p), Some(id)) = (&self.0, self.1) {
            if file_id(p) == Some(id) {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

/// Listening sockets passed by a service manager (systemd socket activation: `LISTEN_PID`
/// is this process and `LISTEN_FDS` >= 1, descriptors 3, 4, ...), as `jobs` listeners (at
/// least one per socket, shared round the workers); `None` when none were passed. The
/// `LISTEN_*` variables are removed either way, so no child takes the sockets for its own:
/// call this before any thread starts.
pub fn activated(jobs: usize) -> Result<Option<Vec<Bound>>, String> {
    let pid = std::env::var("LISTEN_PID").ok();
    let n = std::env::var("LISTEN_FDS").ok();
    for v in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        std::env::remove_var(v);
    }
    let ours = pid.and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id());
    let n = match n.and_then(|n| n.parse::<usize>().ok()) {
        Some(n) if ours && n > 0 => n,
        _ => return Ok(None),
    };
    let say = |fd: usize, e: io::Error| format!("LISTEN_FDS: fd {}: {}", fd + 3, strerror(&e));
    let fds = splicekit::sys::take_listen_fds(n).map_err(|e| say(0, e))?;
    let mut socks = Vec::with_capacity(n);
    for (i, fd) in fds.into_iter().enumerate() {
        socks.push(passed(fd).map_err(|e| say(i, e))?);
    }
    let mut v = Vec::with_capacity(jobs.max(n));
    for k in 0..jobs.max(n) {
        v.push(match &socks[k % n] {
            Bound::Tcp(l) => Bound::Tcp(l.try_clone().map_err(|e| say(k % n, e))?),
            Bound::Unix(l) => Bound::Unix(l.try_clone().map_err(|e| say(k % n, e))?),
        });
    }
    Ok(Some(v))
}

/// A passed descriptor as a listener: it must be a listening stream socket.
fn passed(fd: OwnedFd) -> io::Result<Bound> {
    let listening =
        sockopt::socket_type(&fd)? == SocketType::STREAM && sockopt::socket_acceptconn(&fd)?;
    if !listening {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a listening stream socket",
        ));
    }
    let b = if sockopt::socket_domain(&fd)? == AddressFamily::UNIX {
        let l = std::os::unix::net::UnixListener::from(fd);
        l.set_nonblocking(true)?;
        Bound::Unix(l)
    } else {
        let l = std::net::TcpListener::from(fd);
        l.set_nonblocking(true)?;
        Bound::Tcp(l)
    };
    Ok(b)
}

/// `path` with its directory made absolute and canonical (the file itself need not exist).
fn absolute(path: &std::path::Path) -> PathBuf {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    match (std::fs::canonicalize(dir), path.file_name()) {
        (Ok(d), Some(name)) => d.join(name),
        _ => path.to_path_buf(),
    }
}

/// Whether a connection to `to` would be accepted by a listener bound to `listen`: the same
/// address, or a wildcard listener (`[::]` takes IPv4 too) and an address of this host.
fn reaches(listen: SocketAddr, to: SocketAddr) -> bool {
    if listen.port() != to.port() || listen.port() == 0 {
        return false;
    }
    let family = listen.is_ipv6() || to.is_ipv4();
    listen.ip() == to.ip() || (listen.ip().is_unspecified() && family && is_local(to.ip()))
}

/// Whether `ip` is an address of this host: binding to it works.
fn is_local(ip: std::net::IpAddr) -> bool {
    ip.is_unspecified() || ip.is_loopback() || std::net::UdpSocket::bind((ip, 0)).is_ok()
}

/// The device and inode of the socket file at `path` (not following a symlink).
fn file_id(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let m = std::fs::symlink_metadata(path).ok()?;
    m.file_type().is_socket().then(|| (m.dev(), m.ino()))
}

/// Whether `path` is a Unix socket that refuses connections (no listener behind it).
fn is_stale_socket(path: &std::path::Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    let is_socket = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket());
    is_socket
        && std::os::unix::net::UnixStream::connect(path)
            .is_err_and(|e| e.kind() == io::ErrorKind::ConnectionRefused)
}

fn tcp_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let flags = SocketFlags::CLOEXEC | SocketFlags::NONBLOCK;
    let fd: OwnedFd = rustix::net::socket_with(family, SocketType::STREAM, flags, None)?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    sockopt::set_socket_reuseport(&fd, true)?;
    rustix::net::bind(&fd, &addr)?;
    rustix::net::listen(&fd, 4096)?;
    Ok(std::net::TcpListener::from(fd))
}

#[cfg(test)]
mod tests {
    use super::{Endpoint, Listen};

    fn show(s: &str) -> Result<String, String> {
        Endpoint::parse(s).map(|e| e.to_string())
    }

    #[test]
    fn addresses() {
        assert_eq!(show("8080"), Ok("127.0.0.1:8080".into()));
        assert_eq!(show("0.0.0.0:80"), Ok("0.0.0.0:80".into()));
        assert_eq!(show("[::1]:443"), Ok("[::1]:443".into()));
        assert_eq!(show("unix:/run/x.sock"), Ok("unix:/run/x.sock".into()));
        assert!(show("unix:").is_err());
        assert!(show("no-port-here").is_err());
        assert!(show("127.0.0.1:99999").is_err());
    }

    #[test]
    fn loops_back_into_the_listener() {
        let l = |s: &str| Listen::parse(s).unwrap();
        assert!(l("5000").loop_in("127.0.0.1:5000").is_some());
        assert!(l("0.0.0.0:5000").loop_in("127.0.0.1:5000").is_some());
        assert!(l("[::]:5000").loop_in("127.0.0.1:5000").is_some());
        assert!(l("[::1]:5000").loop_in("[::1]:5000").is_some());
        assert!(l("127.0.0.1:5000").loop_in("127.0.0.1:5001").is_none());
        assert!(l("127.0.0.1:5000").loop_in("127.0.0.2:5000").is_none());
        assert!(l("0.0.0.0:5000").loop_in("[::1]:5000").is_none());
        assert!(l("unix:/tmp/a.sock")
            .loop_in("unix:/tmp/./a.sock")
            .is_some());
        assert!(l("unix:a.sock").loop_in("unix:./a.sock").is_some());
        assert!(l("unix:/tmp/a.sock").loop_in("unix:/tmp/b.sock").is_none());
        assert!(l("5000").loop_in("unix:/tmp/a").is_none());
    }
}
