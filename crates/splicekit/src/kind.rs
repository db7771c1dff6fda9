//! What a descriptor is: [`FdKind`] and the open-file flags the engine plans with ([`FdInfo`]).

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use rustix::fs::{FileType, OFlags};
use rustix::net::{AddressFamily, SocketType};

/// The kind of socket behind a descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketKind {
    /// A TCP socket (IPv4 or IPv6 stream).
    Tcp,
    /// A UDP socket (IPv4 or IPv6 datagram).
    Udp,
    /// A Unix-domain stream socket.
    UnixStream,
    /// A Unix-domain datagram socket.
    UnixDatagram,
    /// A Unix-domain sequenced-packet socket.
    UnixSeqpacket,
    /// Any other family or type.
    Other,
}

impl SocketKind {
    /// Whether the socket keeps message boundaries (a short read would drop the rest of a
    /// datagram, kernel-facts F18).
    pub fn is_datagram(self) -> bool {
        matches!(self, Self::Udp | Self::UnixDatagram | Self::UnixSeqpacket)
    }
}

/// The kind of file a descriptor refers to, as `fstat` and `getsockopt` tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FdKind {
    /// A regular file (including a memfd).
    File,
    /// A pipe or FIFO.
    Pipe,
    /// A socket.
    Socket(SocketKind),
    /// A character device (`/dev/null`, `/dev/zero`, a terminal, …).
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A directory.
    Directory,
    /// Anything else (eventfd, epoll, signalfd, symlink via `O_PATH`, …).
    Other,
    /// Not a descriptor: the process's own memory, the source of a `vmsplice` write (errors
    /// read `vmsplice(memory -> pipe) failed …`).
    Memory,
}

impl FdKind {
    /// Classifies `fd` with `fstat`, and for sockets `SO_DOMAIN`/`SO_TYPE`.
    ///
    /// ```
    /// use splicekit::{FdKind, Pipe, SocketKind};
    /// let (r, _w) = Pipe::new()?.into_ends();
    /// assert_eq!(FdKind::of(&r)?, FdKind::Pipe);
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// assert_eq!(FdKind::of(&a)?, FdKind::Socket(SocketKind::UnixStream));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// `fstat(2)`'s error: `EBADF` for a closed descriptor. A socket whose domain or type
    /// cannot be read is [`SocketKind::Other`], not an error.
    pub fn of<F: AsFd>(fd: F) -> io::Result<Self> {
        Ok(FdInfo::of(fd)?.kind)
    }

    /// Whether the kind is a socket.
    pub fn is_socket(self) -> bool {
        matches!(self, Self::Socket(_))
    }

    /// Whether `sendfile(2)` can read from this kind: it needs a page-cache or `splice_read`
    /// source, which sockets and pipes are not.
    pub fn is_file_like(self) -> bool {
        matches!(self, Self::File | Self::CharDevice | Self::BlockDevice)
    }
}

impl fmt::Display for FdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Self::File => "file",
            Self::Pipe => "pipe",
            Self::Socket(SocketKind::Tcp) => "TCP socket",
            Self::Socket(SocketKind::Udp) => "UDP socket",
            Self::Socket(SocketKind::UnixStream) => "unix stream socket",
            Self::Socket(SocketKind::UnixDatagram) => "unix datagram socket",
            Self::Socket(SocketKind::UnixSeqpacket) => "unix seqpacket socket",
            Self::Socket(SocketKind::Other) => "socket",
            Self::CharDevice => "character device",
            Self::BlockDevice => "block device",
            Self::Directory => "directory",
            Self::Other => "other descriptor",
            Self::Memory => "memory",
        };
        f.write_str(s)
    }
}

/// A descriptor's kind plus the facts about its open file that decide which primitives work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdInfo {
    /// What the descriptor is.
    pub kind: FdKind,
    /// `O_APPEND` is set: splice and sendfile refuse it with `EINVAL`, copy_file_range with
    /// `EBADF` (kernel-facts B32, F5).
    pub append: bool,
    /// `O_NONBLOCK` is set: calls may return `EAGAIN`.
    pub nonblock: bool,
    /// `O_DIRECT` is set: splice wants aligned lengths (kernel-facts B36).
    pub direct: bool,
    /// The device holding the file (`st_dev`): copy_file_range needs both on one superblock.
    pub dev: u64,
    /// The inode (`st_ino`): with `dev`, identifies "the same file".
    pub ino: u64,
    /// `st_size` for regular files and block devices, else 0.
    pub size: u64,
}

impl FdInfo {
    /// Reads the kind and flags of `fd`.
    ///
    /// # Errors
    /// `fstat(2)`'s error (`EBADF` for a closed descriptor). A descriptor whose status flags
    /// cannot be read (`O_PATH`) has them all `false`, not an error.
    pub fn of<F: AsFd>(fd: F) -> io::Result<Self> {
        info(fd.as_fd(), true)
    }

    /// The kind, size and identity of `fd` from one `fstat`, without asking for its status
    /// flags: `append`, `nonblock` and `direct` are `false`. For a descriptor the caller
    /// opened itself with none of those flags (a file `cat` opened read-only), where the
    /// `fcntl(F_GETFL)` of [`FdInfo::of`] would be one system call per input for nothing.
    ///
    /// ```
    /// let f = std::fs::File::open("/etc/hostname")?;
    /// let i = splicekit::FdInfo::stat(&f)?;
    /// assert_eq!(i.kind, splicekit::FdKind::File);
    /// assert!(!i.append && !i.nonblock && !i.direct);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// `fstat`'s error.
    pub fn stat<F: AsFd>(fd: F) -> io::Result<Self> {
        info(fd.as_fd(), false)
    }

    /// Whether `self` and `other` are the same regular file.
    pub fn same_file(&self, other: &FdInfo) -> bool {
        self.kind == FdKind::File
            && other.kind == FdKind::File
            && (self.dev, self.ino) == (other.dev, other.ino)
    }
}

fn info(fd: BorrowedFd<'_>, flags: bool) -> io::Result<FdInfo> {
    let st = rustix::fs::fstat(fd).map_err(io::Error::from)?;
    let kind = match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => FdKind::File,
        FileType::Fifo => FdKind::Pipe,
        FileType::Socket => FdKind::Socket(socket_kind(fd)),
        FileType::CharacterDevice => FdKind::CharDevice,
        FileType::BlockDevice => FdKind::BlockDevice,
        FileType::Directory => FdKind::Directory,
        _ => FdKind::Other,
    };
    // O_PATH descriptors have no flags to read; treat them as none set.
    let fl = if flags {
        rustix::fs::fcntl_getfl(fd).unwrap_or(OFlags::empty())
    } else {
        OFlags::empty()
    };
    let size = if matches!(kind, FdKind::File) {
        st.st_size as u64
    } else {
        0
    };
    Ok(FdInfo {
        kind,
        append: fl.contains(OFlags::APPEND),
        nonblock: fl.contains(OFlags::NONBLOCK),
        direct: fl.contains(OFlags::DIRECT),
        dev: st.st_dev,
        ino: st.st_ino,
        size,
    })
}

fn socket_kind(fd: BorrowedFd<'_>) -> SocketKind {
    let domain = rustix::net::sockopt::socket_domain(fd).ok();
    let ty = rustix::net::sockopt::socket_type(fd).ok();
    match (domain, ty) {
        (Some(AddressFamily::INET | AddressFamily::INET6), Some(SocketType::STREAM)) => {
            SocketKind::Tcp
        }
        (Some(AddressFamily::INET | AddressFamily::INET6), Some(SocketType::DGRAM)) => {
            SocketKind::Udp
        }
        (Some(AddressFamily::UNIX), Some(SocketType::STREAM)) => SocketKind::UnixStream,
        (Some(AddressFamily::UNIX), Some(SocketType::DGRAM)) => SocketKind::UnixDatagram,
        (Some(AddressFamily::UNIX), Some(SocketType::SEQPACKET)) => SocketKind::UnixSeqpacket,
        _ => SocketKind::Other,
    }
}
