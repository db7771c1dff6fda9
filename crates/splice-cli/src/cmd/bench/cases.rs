//! The benchmark cases: each builds fresh endpoints for one run (a source, a sink and the
//! helper threads on the far ends), so every method meets the same conditions.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use splicekit::sys::{self, PipeFlags, SpliceFlags};

/// A case: a pair of descriptor kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    FileToPipe,
    FileToFile,
    PipeToPipe,
    FileToTcp,
    TcpToTcp,
    GenToSplicer,
    GenToReader,
    /// A meter between a file and a pipe: `splice pv`'s loop against a read/write meter.
    Meter,
    /// stdin pipe → N pipes with splicing readers.
    TeePipes(usize),
    /// stdin pipe → N files.
    TeeFiles(usize),
}

impl Case {
    pub const ALL: [Case; 12] = [
        Case::FileToPipe,
        Case::FileToFile,
        Case::PipeToPipe,
        Case::FileToTcp,
        Case::TcpToTcp,
        Case::GenToSplicer,
        Case::GenToReader,
        Case::Meter,
        Case::TeePipes(1),
        Case::TeePipes(2),
        Case::TeePipes(4),
        Case::TeeFiles(4),
    ];

    /// The number of outputs of a fan-out case (0 for the others).
    pub fn fan_out(self) -> usize {
        match self {
            Case::TeePipes(n) | Case::TeeFiles(n) => n,
            _ => 0,
        }
    }

    /// Whether the case measures a generator (no source descriptor, no data file).
    pub fn is_gen(self) -> bool {
        matches!(self, Case::GenToSplicer | Case::GenToReader)
    }

    pub fn name(self) -> &'static str {
        match self {
            Case::FileToPipe => "file-pipe",
            Case::FileToFile => "file-file",
            Case::PipeToPipe => "pipe-pipe",
            Case::FileToTcp => "file-tcp",
            Case::TcpToTcp => "tcp-tcp",
            Case::GenToSplicer => "gen-splice",
            Case::GenToReader => "gen-read",
            Case::Meter => "pv",
            Case::TeePipes(1) => "tee-1-pipe",
            Case::TeePipes(2) => "tee-2-pipes",
            Case::TeePipes(_) => "tee-4-pipes",
            Case::TeeFiles(_) => "tee-4-files",
        }
    }

    /// What is on the far side, for the table's footnote.
    pub fn about(self) -> &'static str {
        match self {
            Case::FileToPipe => "page-cached file into a fresh 64 KiB pipe; a reader thread splices the pipe to /dev/null",
            Case::FileToFile => "page-cached file into a new file in the same directory",
            Case::PipeToPipe => "a feeder splices the file into pipe 1; the method moves pipe 1 -> pipe 2; a reader splices pipe 2 to /dev/null",
            Case::FileToTcp => "page-cached file into a 127.0.0.1 TCP socket; a receiver thread reads and discards",
            Case::TcpToTcp => "a sender writes into socket A; the method relays A -> B; a receiver reads and discards B",
            Case::GenToSplicer => "the method generates `y\\n` lines into a 1 MiB pipe; a reader thread splices it to /dev/null",
            Case::Meter => "page-cached file through a byte-counting meter into a 64 KiB pipe; a reader thread splices it to /dev/null",
            Case::TeePipes(_) => "a feeder splices the file into a 1 MiB stdin pipe; the method copies it to N pipes, each drained by a splicing reader",
            Case::TeeFiles(_) => "a feeder splices SIZE/N bytes of the file into a 1 MiB stdin pipe; the method copies them to N new files in the data's directory",
            Case::GenToReader => "the method generates `y\\n` lines into a 1 MiB pipe; a reader thread copies it out with read(), 128 KiB at a time",
        }
    }
}

/// One run's endpoints: the method copies `src` → `dst`; `finish` closes the method's ends and
/// joins the helpers, returning the bytes the far side received (when it counts them).
pub struct Endpoints {
    pub src: OwnedFd,
    pub dst: OwnedFd,
    /// The other outputs of a fan-out case (`dst` is the first).
    pub more: Vec<OwnedFd>,
    helpers: Vec<JoinHandle<u64>>,
    out_path: Option<PathBuf>,
    /// Files written by a fan-out case; each must hold every byte.
    out_files: Vec<PathBuf>,
    /// A feeder to join apart from the counting helpers.
    feeder: Option<JoinHandle<u64>>,
    /// A fan-out case: every output must receive every byte.
    fan: bool,
}

impl Endpoints {
    pub fn finish(self) -> u64 {
        drop(self.src);
        drop(self.dst);
        drop(self.more);
        if let Some(f) = self.feeder {
            let _ = f.join();
        }
        if self.fan {
            // Fan-out: the least any output received.
            let files = self.out_files.iter().map(|p| {
                let n = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
                let _ = std::fs::remove_file(p);
                n
            });
            let files: Vec<u64> = files.collect();
            let readers = self.helpers.into_iter().map(|h| h.join().unwrap_or(0));
            return files.into_iter().chain(readers).min().unwrap_or(0);
        }
        let got = self
            .helpers
            .into_iter()
            .map(|h| h.join().unwrap_or(0))
            .max()
            .unwrap_or(0);
        if let Some(p) = self.out_path {
            let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            let _ = std::fs::remove_file(p);
            return len;
        }
        got
    }
}

/// Builds the endpoints of `case` over the data file `data`.
pub fn setup(
    case: Case,
    data: &Path,
    size: u64,
    dir: &Path,
    run: usize,
) -> std::io::Result<Endpoints> {
    let file = || File::open(data).map(OwnedFd::from);
    let mut helpers = Vec::new();
    let mut out_path = None;
    let (mut more, mut out_files, mut feeder) = (Vec::new(), Vec::new(), None);
    let (src, dst) = match case {
        Case::FileToPipe | Case::Meter => {
            let (r, w) = sys::pipe(PipeFlags::CLOEXEC)?;
            helpers.push(splicing_reader(r));
            (file()?, w)
        }
        Case::FileToFile => {
            let p = dir.join(format!("splice-bench-out-{}-{run}", std::process::id()));
            let out = File::create(&p)?;
            out_path = Some(p);
            (file()?, out.into())
        }
        Case::PipeToPipe => {
            let (r1, w1) = sys::pipe(PipeFlags::CLOEXEC)?;
            let (r2, w2) = sys::pipe(PipeFlags::CLOEXEC)?;
            let _ = sys::set_pipe_capacity(&w1, 1 << 20);
            helpers.push(splicing_feeder(file()?, w1, size));
            helpers.push(splicing_reader(r2));
            (r1, w2)
        }
        Case::FileToTcp => {
            let (a, b) = tcp_pair()?;
            helpers.push(discarding_receiver(b));
            (file()?, a.into())
        }
        Case::GenToSplicer | Case::GenToReader => {
            let (r, w) = sys::pipe(PipeFlags::CLOEXEC)?;
            let _ = sys::set_pipe_capacity(&w, 1 << 20);
            helpers.push(if case == Case::GenToSplicer {
                splicing_reader(r)
            } else {
                copying_reader(r)
            });
            (File::open("/dev/null")?.into(), w)
        }
        Case::TeePipes(n) | Case::TeeFiles(n) => {
            let (r1, w1) = sys::pipe(PipeFlags::CLOEXEC)?;
            let _ = sys::set_pipe_capacity(&w1, 1 << 20);
            feeder = Some(splicing_feeder(file()?, w1, size));
            let mut outs = Vec::new();
            for i in 0..n {
                if matches!(case, Case::TeePipes(_)) {
                    let (r, w) = sys::pipe(PipeFlags::CLOEXEC)?;
                    helpers.push(splicing_reader(r));
                    outs.push(w);
                } else {
                    let p = dir.join(format!("splice-bench-tee-{}-{run}-{i}", std::process::id()));
                    outs.push(File::create(&p)?.into());
                    out_files.push(p);
                }
            }
            let first = outs.remove(0);
            more = outs;
            (r1, first)
        }
        Case::TcpToTcp => {
            let (a1, b1) = tcp_pair()?;
            let (a2, b2) = tcp_pair()?;
            helpers.push(sender(a1, size));
            helpers.push(discarding_receiver(b2));
            (b1.into(), a2.into())
        }
    };
    Ok(Endpoints {
        src,
        dst,
        more,
        helpers,
        out_path,
        out_files,
        feeder,
        fan: case.fan_out() > 0,
    })
}

fn tcp_pair() -> std::io::Result<(TcpStream, TcpStream)> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let a = TcpStream::connect(l.local_addr()?)?;
    let (b, _) = l.accept()?;
    Ok((a, b))
}

/// Drains a pipe into /dev/null with splice, the way a zero-copy consumer would.
pub(super) fn splicing_reader(r: OwnedFd) -> JoinHandle<u64> {
    std::thread::spawn(move || {
        let Ok(null) = File::options().write(true).open("/dev/null") else {
            return 0;
        };
        let mut total = 0;
        while let Ok(n) = sys::splice(&r, None, &null, None, 1 << 20, SpliceFlags::MOVE) {
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        total
    })
}

/// Drains a pipe with read(2) into a 128 KiB buffer, the way a copying consumer would.
fn copying_reader(r: OwnedFd) -> JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 128 << 10];
        let mut total = 0;
        while let Ok(n) = sys::read(&r, &mut buf, None) {
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        total
    })
}

/// Fills a pipe from the data file with splice, so the feeder is never the bottleneck.
fn splicing_feeder(f: OwnedFd, w: OwnedFd, size: u64) -> JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut total = 0;
        while total < size {
            let want = (size - total).min(1 << 20) as usize;
            match sys::splice(&f, None, &w, None, want, SpliceFlags::MOVE) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n as u64,
            }
        }
        total
    })
}

/// Writes `size` bytes of a 1 MiB pattern into a socket, then closes it.
fn sender(mut s: TcpStream, size: u64) -> JoinHandle<u64> {
    std::thread::spawn(move || {
        let buf: Vec<u8> = (0..1 << 20).map(|i: u32| ((i * 31) >> 3) as u8).collect();
        let mut left = size;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            if s.write_all(&buf[..n]).is_err() {
                break;
            }
            left -= n as u64;
        }
        size - left
    })
}

/// Reads a socket to its end into a 1 MiB buffer, counting bytes.
fn discarding_receiver(mut s: TcpStream) -> JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0;
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        total
    })
}

/// Writes the data file: `size` bytes of a non-repeating pattern, left in the page cache.
pub fn make_data(dir: &Path, size: u64) -> std::io::Result<PathBuf> {
    let path = dir.join(format!("splice-bench-data-{}", std::process::id()));
    let mut f = File::create(&path)?;
    let mut block = vec![0u8; 1 << 20];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut left = size;
    while left > 0 {
        for b in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n])?;
        left -= n as u64;
    }
    f.sync_all()?;
    Ok(path)
}

/// Borrowed views, for the methods.
pub fn ends(e: &Endpoints) -> (BorrowedFd<'_>, BorrowedFd<'_>) {
    (e.src.as_fd(), e.dst.as_fd())
}
