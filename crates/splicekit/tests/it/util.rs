//! Builds every descriptor kind the matrix uses, fed with known bytes or collecting what
//! arrives, on real files, pipes and loopback sockets.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::thread::JoinHandle;

use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
use sha2::{Digest, Sha256};

/// Deterministic, non-repeating test bytes.
pub fn data(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ n as u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The SHA-256 of `b`, as hex.
pub fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// The sizes every data path is checked at.
pub const SIZES: [usize; 8] = [0, 1, 4095, 4096, 4097, 65535, 65536, 65537];

pub fn set_nonblock(fd: impl AsFd) {
    let fl = fcntl_getfl(&fd).unwrap();
    fcntl_setfl(&fd, fl | OFlags::NONBLOCK).unwrap();
}

pub fn tmpfs_dir() -> &'static str {
    "/dev/shm"
}

pub fn ext4_file(content: &[u8]) -> File {
    file_in(&std::env::temp_dir(), content)
}

pub fn file_in(dir: &std::path::Path, content: &[u8]) -> File {
    let mut f = tempfile::tempfile_in(dir).unwrap();
    f.write_all(content).unwrap();
    use std::io::Seek;
    f.rewind().unwrap();
    f
}

pub fn memfd(content: &[u8]) -> File {
    let fd = rustix::fs::memfd_create("splicekit-test", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
    let mut f = File::from(fd);
    f.write_all(content).unwrap();
    use std::io::Seek;
    f.rewind().unwrap();
    f
}

/// A file opened for appending (the sink side of the O_APPEND rows).
pub fn append_file(dir: &std::path::Path) -> (File, tempfile::TempPath) {
    let path = tempfile::NamedTempFile::new_in(dir)
        .unwrap()
        .into_temp_path();
    let f = OpenOptions::new()
        .read(true)
        .append(true)
        .open(&path)
        .unwrap();
    (f, path)
}

pub fn read_file(f: &File) -> Vec<u8> {
    let len = f.metadata().unwrap().len() as usize;
    let mut v = vec![0; len];
    f.read_exact_at(&mut v, 0).unwrap();
    v
}

/// A pipe whose write end a thread fills with `content` and then closes.
pub fn fed_pipe(content: Vec<u8>, nonblock: bool) -> (OwnedFd, JoinHandle<()>) {
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
    if nonblock {
        set_nonblock(&r);
    }
    let t = std::thread::spawn(move || {
        let mut w = File::from(w);
        let _ = w.write_all(&content);
    });
    (r, t)
}

/// A pipe whose read end a thread drains; the join handle returns what arrived.
pub fn drained_pipe(nonblock: bool) -> (OwnedFd, JoinHandle<Vec<u8>>) {
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
    if nonblock {
        set_nonblock(&w);
    }
    (w, reader_thread(File::from(r)))
}

pub fn reader_thread<R: Read + Send + 'static>(mut r: R) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        r.read_to_end(&mut v).unwrap();
        v
    })
}

pub fn writer_thread<W: Write + Send + 'static>(mut w: W, content: Vec<u8>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let _ = w.write_all(&content);
    })
}

/// A connected TCP pair on 127.0.0.1.
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (b, _) = l.accept().unwrap();
    (a, b)
}

pub fn udp_pair() -> (UdpSocket, UdpSocket) {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    a.connect(b.local_addr().unwrap()).unwrap();
    b.connect(a.local_addr().unwrap()).unwrap();
    rustix::net::sockopt::set_socket_recv_buffer_size(&b, 4 << 20).unwrap();
    rustix::net::sockopt::set_socket_recv_buffer_size(&a, 4 << 20).unwrap();
    (a, b)
}

pub fn unix_dgram_pair() -> (UnixDatagram, UnixDatagram) {
    UnixDatagram::pair().unwrap()
}

pub fn unix_stream_pair() -> (UnixStream, UnixStream) {
    UnixStream::pair().unwrap()
}

pub fn open_read(path: &str) -> File {
    File::open(path).unwrap()
}

pub fn open_write(path: &str) -> File {
    OpenOptions::new().write(true).open(path).unwrap()
}

/// Says on the real stderr, past libtest's capture (which takes only the print macros), that
/// a test could not run here and why: `cargo test` shows it even when the test passes, and
/// `.ci/run` counts these lines.
pub fn skip(reason: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "skipped: {reason}");
}

/// `path` opened for reading with `O_DIRECT`.
pub fn open_direct(path: &std::path::Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
}
