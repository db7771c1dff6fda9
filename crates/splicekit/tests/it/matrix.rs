//! FACTS.md §2: every source kind × every sink kind × the boundary sizes, through
//! `splicekit::copy_with`, checked by hash against what went in, and asserting the strategy
//! the engine rules name for the pair.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::thread::JoinHandle;
use std::time::Duration;

use splicekit::{copy_with, CopyOptions, FilePages, Strategy};

use crate::oracle;
use crate::util::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Src {
    Ext4,
    Tmpfs,
    Memfd,
    Pipe,
    PipeNb,
    Tcp,
    TcpNb,
    UnixStream,
    UnixDgram,
    Udp,
    DevZero,
    DevUrandom,
    ProcVersion,
    ProcPerPid,
    Sysfs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dst {
    Ext4,
    Ext4Append,
    Tmpfs,
    Memfd,
    Pipe,
    PipeNb,
    Tcp,
    TcpNb,
    UnixStream,
    UnixDgram,
    Udp,
    DevNull,
    DevNullAppend,
}

const DSTS: [Dst; 13] = [
    Dst::Ext4,
    Dst::Ext4Append,
    Dst::Tmpfs,
    Dst::Memfd,
    Dst::Pipe,
    Dst::PipeNb,
    Dst::Tcp,
    Dst::TcpNb,
    Dst::UnixStream,
    Dst::UnixDgram,
    Dst::Udp,
    Dst::DevNull,
    Dst::DevNullAppend,
];

/// The strategy FACTS.md §2's rules name for the pair (zero-copy options).
fn expected(src: Src, dst: Dst) -> Strategy {
    use Strategy::*;
    let file_like = matches!(
        src,
        Src::Ext4
            | Src::Tmpfs
            | Src::Memfd
            | Src::DevZero
            | Src::DevUrandom
            | Src::ProcVersion
            | Src::Sysfs
    );
    let same_fs = matches!(
        (src, dst),
        (Src::Ext4, Dst::Ext4) | (Src::Tmpfs, Dst::Tmpfs) | (Src::Memfd, Dst::Memfd)
    );
    match (src, dst) {
        (_, Dst::Ext4Append | Dst::DevNullAppend) => ReadWrite,
        (Src::ProcPerPid, _) => ReadWrite, // EINVAL from every zero-copy primitive (FACTS F11)
        (Src::Udp | Src::UnixDgram, _) => ReadWrite, // datagrams: no truncation (F18)
        (_, Dst::Udp | Dst::UnixDgram) => ReadWrite, // one write per datagram
        (_, Dst::Pipe | Dst::PipeNb) if file_like => SpliceBroker,
        (Src::Pipe | Src::PipeNb, _) | (_, Dst::Pipe | Dst::PipeNb) => Splice,
        _ if same_fs => CopyFileRange,
        _ if file_like => Sendfile,
        _ => SpliceBroker,
    }
}

pub(crate) struct Source {
    pub fd: OwnedFd,
    pub expect: Option<Vec<u8>>, // None: content not reproducible (urandom), check the length
    pub len: Option<u64>,
    pub feeder: Option<JoinHandle<()>>,
}

pub(crate) fn source(kind: Src, n: usize) -> Source {
    let content = data(n);
    let plain = |f: File, c: Vec<u8>| Source {
        fd: f.into(),
        expect: Some(c),
        len: None,
        feeder: None,
    };
    match kind {
        Src::Ext4 => plain(ext4_file(&content), content),
        Src::Tmpfs => plain(file_in(tmpfs_dir().as_ref(), &content), content),
        Src::Memfd => plain(memfd(&content), content),
        Src::Pipe | Src::PipeNb => {
            let (fd, t) = fed_pipe(content.clone(), kind == Src::PipeNb);
            Source {
                fd,
                expect: Some(content),
                len: None,
                feeder: Some(t),
            }
        }
        Src::Tcp | Src::TcpNb => {
            let (a, b) = tcp_pair();
            b.set_nonblocking(kind == Src::TcpNb).unwrap();
            Source {
                fd: b.into(),
                expect: Some(content.clone()),
                len: None,
                feeder: Some(writer_thread(a, content)),
            }
        }
        Src::UnixStream => {
            let (a, b) = unix_stream_pair();
            Source {
                fd: b.into(),
                expect: Some(content.clone()),
                len: None,
                feeder: Some(writer_thread(a, content)),
            }
        }
        Src::UnixDgram | Src::Udp => {
            let (a, b): (OwnedFd, OwnedFd) = if kind == Src::Udp {
                let (a, b) = udp_pair();
                (a.into(), b.into())
            } else {
                let (a, b) = unix_dgram_pair();
                (a.into(), b.into())
            };
            let c = content.clone();
            let t = std::thread::spawn(move || {
                for part in c.chunks(50_000) {
                    rustix::net::send(&a, part, rustix::net::SendFlags::empty()).unwrap();
                }
            });
            Source {
                fd: b,
                expect: Some(content),
                len: Some(n as u64),
                feeder: Some(t),
            }
        }
        Src::DevZero => Source {
            fd: open_read("/dev/zero").into(),
            expect: Some(vec![0; n]),
            len: Some(n as u64),
            feeder: None,
        },
        Src::DevUrandom => Source {
            fd: open_read("/dev/urandom").into(),
            expect: None,
            len: Some(n as u64),
            feeder: None,
        },
        Src::ProcVersion => plain(
            open_read("/proc/version"),
            oracle::read_path("/proc/version"),
        ),
        Src::ProcPerPid => plain(
            open_read("/proc/self/cmdline"),
            oracle::read_path("/proc/self/cmdline"),
        ),
        Src::Sysfs => plain(
            open_read("/sys/class/net/lo/mtu"),
            oracle::read_path("/sys/class/net/lo/mtu"),
        ),
    }
}

pub(crate) enum Collect {
    File(File, Option<tempfile::TempPath>),
    Thread(JoinHandle<Vec<u8>>),
    Discard,
}

pub(crate) fn sink(kind: Dst, n: usize) -> (OwnedFd, Collect) {
    let tmp = std::env::temp_dir();
    match kind {
        Dst::Ext4 => file_sink(tempfile::tempfile().unwrap(), None),
        Dst::Tmpfs => file_sink(tempfile::tempfile_in(tmpfs_dir()).unwrap(), None),
        Dst::Memfd => file_sink(memfd(b""), None),
        Dst::Ext4Append => {
            let (f, p) = append_file(&tmp);
            file_sink(f, Some(p))
        }
        Dst::Pipe | Dst::PipeNb => {
            let (w, t) = drained_pipe(kind == Dst::PipeNb);
            (w, Collect::Thread(t))
        }
        Dst::Tcp | Dst::TcpNb => {
            let (a, b) = tcp_pair();
            a.set_nonblocking(kind == Dst::TcpNb).unwrap();
            (a.into(), Collect::Thread(reader_thread(b)))
        }
        Dst::UnixStream => {
            let (a, b) = unix_stream_pair();
            (a.into(), Collect::Thread(reader_thread(b)))
        }
        Dst::UnixDgram => {
            let (a, b) = unix_dgram_pair();
            (a.into(), Collect::Thread(dgram_reader(b.into(), n)))
        }
        Dst::Udp => {
            let (a, b) = udp_pair();
            (a.into(), Collect::Thread(dgram_reader(b.into(), n)))
        }
        Dst::DevNull => (open_write("/dev/null").into(), Collect::Discard),
        Dst::DevNullAppend => {
            let f = std::fs::OpenOptions::new()
                .append(true)
                .open("/dev/null")
                .unwrap();
            (f.into(), Collect::Discard)
        }
    }
}

fn file_sink(f: File, p: Option<tempfile::TempPath>) -> (OwnedFd, Collect) {
    let dup = f.try_clone().unwrap();
    (f.into(), Collect::File(dup, p))
}

/// Receives datagrams until `n` bytes arrived (or 10 s pass with nothing new).
fn dgram_reader(fd: OwnedFd, n: usize) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let s = std::net::UdpSocket::from(fd); // recv works the same on a unix datagram fd
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut out = Vec::new();
        let mut buf = vec![0u8; 1 << 18];
        while out.len() < n {
            match rustix::net::recv(&s, &mut buf[..], rustix::net::RecvFlags::empty()) {
                Ok((k, _)) => out.extend_from_slice(&buf[..k]),
                Err(_) => break,
            }
        }
        out
    })
}

pub(crate) fn collect(c: Collect) -> Option<Vec<u8>> {
    match c {
        Collect::File(f, _p) => Some(read_file(&f)),
        Collect::Thread(t) => Some(t.join().unwrap()),
        Collect::Discard => None,
    }
}

fn run_cell(src: Src, dst: Dst, n: usize) {
    run_mode(src, dst, n, FilePages::Share);
    run_mode(src, dst, n, FilePages::Settle);
}

/// One cell in one mode. Under `Share` the pair's zero-copy strategy must finish the copy;
/// under `Settle` a file's copy may end on read/write (its tail, or all of a small file).
fn run_mode(src: Src, dst: Dst, n: usize, mode: FilePages) {
    let cell = format!("{src:?} -> {dst:?}, {n} bytes, {mode:?}");
    let s = source(src, n);
    let (out, c) = sink(dst, s.expect.as_ref().map_or(n, |e| e.len()));
    let opts = CopyOptions {
        len: s.len,
        file_pages: mode,
        ..CopyOptions::zero_copy()
    };
    let report = copy_with(&s.fd, &out, &opts).unwrap_or_else(|e| panic!("{cell}: {e}"));
    drop(out);
    if let Some(t) = s.feeder {
        t.join().unwrap();
    }
    let got = collect(c);
    let want_len = s.expect.as_ref().map_or(n, |e| e.len()) as u64;
    assert_eq!(report.bytes, want_len, "{cell}: bytes reported");
    if let (Some(got), Some(want)) = (&got, &s.expect) {
        assert_eq!(
            sha(got),
            sha(want),
            "{cell}: content ({} bytes arrived)",
            got.len()
        );
    } else if let Some(got) = got {
        assert_eq!(got.len() as u64, want_len, "{cell}: length");
    }
    let settled_tail = mode == FilePages::Settle && report.strategy == Strategy::ReadWrite;
    if want_len > 0 && !settled_tail {
        assert_eq!(report.strategy, expected(src, dst), "{cell}: strategy");
    }
}

fn row(src: Src) {
    let fixed = matches!(src, Src::ProcVersion | Src::ProcPerPid | Src::Sysfs);
    for dst in DSTS {
        if fixed {
            run_cell(src, dst, 0);
            continue;
        }
        for n in SIZES.iter().copied().chain([3 << 20 | 1]) {
            if dst == Dst::Udp && n > 65537 {
                continue; // UDP may drop datagrams under load; the receive buffer holds 64 KiB
            }
            run_cell(src, dst, n);
        }
    }
}

#[test]
fn ext4_file_to_every_sink() {
    row(Src::Ext4);
}
#[test]
fn tmpfs_file_to_every_sink() {
    row(Src::Tmpfs);
}
#[test]
fn memfd_to_every_sink() {
    row(Src::Memfd);
}
#[test]
fn pipe_to_every_sink() {
    row(Src::Pipe);
}
#[test]
fn nonblocking_pipe_to_every_sink() {
    row(Src::PipeNb);
}
#[test]
fn tcp_to_every_sink() {
    row(Src::Tcp);
}
#[test]
fn nonblocking_tcp_to_every_sink() {
    row(Src::TcpNb);
}
#[test]
fn unix_stream_to_every_sink() {
    row(Src::UnixStream);
}
#[test]
fn unix_dgram_to_every_sink() {
    row(Src::UnixDgram);
}
#[test]
fn udp_to_every_sink() {
    row(Src::Udp);
}
#[test]
fn dev_zero_to_every_sink() {
    row(Src::DevZero);
}
#[test]
fn dev_urandom_to_every_sink() {
    row(Src::DevUrandom);
}
#[test]
fn proc_seq_file_to_every_sink() {
    row(Src::ProcVersion);
}
#[test]
fn per_process_proc_file_to_every_sink() {
    row(Src::ProcPerPid);
}
#[test]
fn sysfs_attribute_to_every_sink() {
    row(Src::Sysfs);
}

/// The same pairs with the library's default options: nothing lets a pipe or socket hold a
/// reference to a file page, so file → pipe/socket takes read/write.
#[test]
fn default_options_copy_file_bytes_into_pipes_and_sockets() {
    for dst in [Dst::Pipe, Dst::Tcp, Dst::UnixStream] {
        let content = data(70_000);
        let f = ext4_file(&content);
        let (out, c) = sink(dst, content.len());
        let r = splicekit::copy(&f, &out).unwrap();
        drop(out);
        assert_eq!(r.strategy, Strategy::ReadWrite, "{dst:?}");
        assert_eq!(sha(&collect(c).unwrap()), sha(&content), "{dst:?}");
    }
}
