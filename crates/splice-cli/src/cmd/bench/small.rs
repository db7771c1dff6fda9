//! The many-small-files cases: 10,000 files of 1 KiB (fewer when `--size` is smaller) copied
//! one after another into a pipe drained by a splicing reader, or into /dev/null — the cost
//! per input that `cat *.log` pays. Three ways, interleaved run by run:
//! - read/write per file (GNU cat 9.1: open, fstat, read, write, read, close),
//! - the engine per file (open, `splicekit::copy_with` in its zero-copy mode, close),
//! - gathered, as `splice cat` does (open, fstat, one read into a shared buffer; one write
//!   per 128 KiB; the files closed 64 at a time by `close_range`).

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Instant;

use splicekit::sys::{self, PipeFlags};
use splicekit::{copy_with, CopyOptions};

use super::report::{self, Row};
use super::Sample;
use crate::cmd::gather::{Gather, Opened, SMALL};

pub const CASES: [(&str, bool); 2] = [("small-files-pipe", true), ("small-files-null", false)];

/// What each case's far side is, for the table's footnote.
pub fn about(name: &str) -> &'static str {
    if name.ends_with("pipe") {
        "10,000 page-cached files of 1 KiB (fewer if --size is smaller) one after another into a 1 MiB pipe drained by a splicing reader"
    } else {
        "10,000 page-cached files of 1 KiB (fewer if --size is smaller) one after another into /dev/null"
    }
}

const FILE: usize = 1024;
const METHODS: [&str; 3] = [
    "read/write per file (GNU 9.1)",
    "splicekit::copy per file",
    "gathered (splice cat)",
];

/// The input files, removed on drop.
struct Files {
    dir: PathBuf,
    paths: Vec<PathBuf>,
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn make_files(dir: &Path, size: u64) -> std::io::Result<Files> {
    let n = (size as usize / FILE).clamp(1, 10_000);
    let dir = dir.join(format!("splice-bench-small-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut files = Files {
        dir,
        paths: Vec::with_capacity(n),
    };
    for i in 0..n {
        let p = files.dir.join(format!("f{i:05}"));
        let body: Vec<u8> = (0..FILE).map(|j| (i * 7 + j) as u8).collect();
        std::fs::write(&p, body)?;
        files.paths.push(p);
    }
    Ok(files)
}

/// Runs both cases that `wanted` selects; rows with ratios to read/write per file.
pub fn run(wanted: &[(&'static str, bool)], a: &super::Args) -> std::io::Result<(Vec<Row>, bool)> {
    let dir = a.dir.clone().unwrap_or_else(std::env::temp_dir);
    let files = make_files(&dir, a.size)?;
    let want = (files.paths.len() * FILE) as u64;
    let (mut rows, mut ok) = (Vec::new(), true);
    for &(name, to_pipe) in wanted {
        let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); METHODS.len()];
        for _ in 0..a.runs.max(1) {
            for (i, m) in METHODS.iter().enumerate() {
                let s = measure(i, &files.paths, to_pipe)?;
                if s.delivered != want {
                    eprintln!("bench: {name} {m}: {} of {want} bytes arrived", s.delivered);
                    ok = false;
                }
                samples[i].push(s);
            }
        }
        let r = METHODS
            .iter()
            .zip(&samples)
            .map(|(m, s)| Row::from_samples(name, m, s))
            .collect();
        rows.extend(report::with_ratios(r, false));
    }
    Ok((rows, ok))
}

fn measure(method: usize, paths: &[PathBuf], to_pipe: bool) -> std::io::Result<Sample> {
    let (dst, reader): (OwnedFd, _) = if to_pipe {
        let (r, w) = sys::pipe(PipeFlags::CLOEXEC)?;
        let _ = sys::set_pipe_capacity(&w, 1 << 20);
        (w, Some(super::cases::splicing_reader(r)))
    } else {
        (File::options().write(true).open("/dev/null")?.into(), None)
    };
    let t0 = Instant::now();
    let c0 = super::thread_cpu();
    let moved = match method {
        0 => {
            // One buffer for the run, as GNU cat allocates once.
            let mut buf = vec![0u8; 128 << 10];
            per_file(paths, dst.as_fd(), |src, dst| {
                read_write(src, dst, &mut buf)
            })?
        }
        1 => per_file(paths, dst.as_fd(), |src, dst| {
            copy_with(src, dst, &CopyOptions::zero_copy())
                .map(|r| r.bytes)
                .map_err(std::io::Error::from)
        })?,
        _ => gathered(paths, dst.as_fd())?,
    };
    let cpu = super::thread_cpu() - c0;
    drop(dst);
    let delivered = match reader {
        Some(h) => h.join().unwrap_or(0),
        None => moved,
    };
    Ok(Sample {
        wall: t0.elapsed(),
        cpu,
        delivered,
        strategy: None,
        syscalls: 0,
    })
}

fn per_file(
    paths: &[PathBuf],
    dst: BorrowedFd<'_>,
    mut copy: impl FnMut(BorrowedFd<'_>, BorrowedFd<'_>) -> std::io::Result<u64>,
) -> std::io::Result<u64> {
    let mut total = 0;
    for p in paths {
        let f = File::open(p)?;
        total += copy(f.as_fd(), dst)?;
    }
    Ok(total)
}

/// GNU cat 9.1's loop for one file: fstat for the block size, then read/write to the end.
fn read_write(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, buf: &mut [u8]) -> std::io::Result<u64> {
    let _ = rustix::fs::fstat(src)?;
    let mut total = 0;
    loop {
        let n = sys::read(src, buf, None)?;
        if n == 0 {
            return Ok(total);
        }
        crate::util::write_all(dst, &buf[..n])?;
        total += n as u64;
    }
}

fn gathered(paths: &[PathBuf], dst: BorrowedFd<'_>) -> std::io::Result<u64> {
    let mut g = Gather::default();
    let mut total = 0;
    for p in paths {
        // As `splice cat` opens them (its files are all regular: no FIFO to wait for).
        let (f, size) = match g.open(p.as_os_str())? {
            Opened::Ready(f, Some(info)) => (f, info.size),
            Opened::Ready(f, None) | Opened::Fifo(f) => {
                let size = rustix::fs::fstat(&f)?.st_size as u64;
                (f, size)
            }
            Opened::Device => {
                total += g.flush(dst)?;
                let f = g.open_blocking(p.as_os_str())?;
                (f, 0)
            }
        };
        if size > SMALL {
            total += g.flush(dst)?;
            total += copy_with(f.as_fd(), dst, &CopyOptions::zero_copy())
                .map_err(std::io::Error::from)?
                .bytes;
            continue;
        }
        g.take(f.as_fd(), size)?;
        g.hold(f);
        if g.full() {
            total += g.flush(dst)?;
        }
    }
    total += g.flush(dst)?;
    g.release();
    Ok(total)
}
