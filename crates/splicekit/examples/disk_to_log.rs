//! Disk to log: copies a byte range of a file, read at an offset, into a pipe, and from the
//! pipe into a log file written at an offset, with the copy engine on both hops. Neither
//! file's own position moves (the offsets go to `splice(2)`), so a program can do this while
//! other code reads the source or appends to the log through its own descriptors.
//!
//! ```sh
//! # Copy LEN bytes of SRC from SRC_OFFSET into LOG at LOG_OFFSET:
//! cargo run -p splicekit --example disk_to_log -- SRC SRC_OFFSET LEN LOG LOG_OFFSET
//! # With no arguments it checks itself on temporary files and exits 1 on a mismatch:
//! cargo run -p splicekit --example disk_to_log
//! ```
//!
//! The log is opened for writing, not with `O_APPEND`: the kernel refuses `splice` into an
//! `O_APPEND` file (`EINVAL`), and the engine would then copy through a buffer instead.

use std::fs::{File, OpenOptions};
use std::io::{Seek, Write};
use std::process::ExitCode;

use splicekit::{copy_with, CopyOptions, CopyReport, FilePages, Pipe};

/// Moves `len` bytes of `src` from `src_off` into `log` at `log_off`: one thread splices the
/// file range into a pipe, this one splices the pipe into the log. Returns both reports.
fn disk_to_log(
    src: &File,
    src_off: u64,
    len: u64,
    log: &File,
    log_off: u64,
) -> Result<(CopyReport, CopyReport), splicekit::Error> {
    let (pipe_r, pipe_w) = Pipe::with_capacity(1 << 20)
        .map_err(pipe_error)?
        .into_ends();
    let into_pipe = CopyOptions {
        src_offset: Some(src_off),
        len: Some(len),
        // A range that ends early (the file shrank) is an error, not a short success.
        exact: true,
        // The pipe may reference the file's pages: nothing writes the source while we copy.
        file_pages: FilePages::Share,
        ..CopyOptions::default()
    };
    let out_of_pipe = CopyOptions {
        dst_offset: Some(log_off),
        ..CopyOptions::default()
    };
    std::thread::scope(|s| {
        let producer = s.spawn(move || {
            // The write end closes when this closure returns: the consumer then sees EOF.
            copy_with(src, &pipe_w, &into_pipe)
        });
        let consumed = copy_with(&pipe_r, log, &out_of_pipe);
        // Close the read end before joining: if the consumer failed, the producer then
        // stops with EPIPE instead of waiting for room in a pipe nobody reads.
        drop(pipe_r);
        let produced = producer.join().expect("producer thread panicked");
        Ok((produced?, consumed?))
    })
}

fn pipe_error(e: std::io::Error) -> splicekit::Error {
    use splicekit::{FdKind, Op, Side};
    splicekit::Error::new(Op::Pipe, FdKind::File, FdKind::Pipe, Side::Output, 0, e)
}

/// Deterministic bytes that differ at every position mod 251.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn self_check() -> Result<bool, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let src_data = pattern(3 << 20);
    let mut src = File::create_new(dir.path().join("disk.img"))?;
    src.write_all(&src_data)?;
    let src = File::open(dir.path().join("disk.img"))?;
    let mut log = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(dir.path().join("app.log"))?;
    let header = b"log header: the ranges follow\n";
    log.write_all(header)?;
    let mut ok = true;
    // A few ranges: unaligned, a page, one byte, more than the pipe holds, the empty range.
    let ranges = [
        (4097u64, 65537u64),
        (8192, 4096),
        (12345, 1),
        (100, 2 << 20),
        (7, 0),
    ];
    for (src_off, len) in ranges {
        let log_off = log.metadata()?.len();
        let (p, c) = disk_to_log(&src, src_off, len, &log, log_off)?;
        println!(
            "disk_to_log: {len} bytes at {src_off} -> log at {log_off}: file->pipe by {}, \
             pipe->log by {}",
            p.strategy, c.strategy
        );
        let want = &src_data[src_off as usize..(src_off + len) as usize];
        let mut got = vec![0; len as usize];
        std::os::unix::fs::FileExt::read_exact_at(&log, &mut got, log_off)?;
        if (p.bytes, c.bytes) != (len, len) || got != want {
            eprintln!("disk_to_log: MISMATCH for {len} bytes at {src_off}");
            ok = false;
        }
    }
    // Offsets leave the descriptors' own positions alone.
    if log.stream_position()? != header.len() as u64 {
        eprintln!("disk_to_log: the log's file position moved");
        ok = false;
    }
    Ok(ok)
}

fn run(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let [src, src_off, len, log, log_off] = args else {
        return Err("usage: disk_to_log SRC SRC_OFFSET LEN LOG LOG_OFFSET".into());
    };
    let src = File::open(src)?;
    // Existing log content outside the range is kept.
    let log = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(log)?;
    let (p, c) = disk_to_log(&src, src_off.parse()?, len.parse()?, &log, log_off.parse()?)?;
    eprintln!(
        "disk_to_log: {} bytes ({} then {})",
        c.bytes, p.strategy, c.strategy
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.is_empty() {
        self_check()
    } else {
        run(&args).map(|()| true)
    };
    match result {
        Ok(true) => {
            if args.is_empty() {
                println!("disk_to_log: ok");
            }
            ExitCode::SUCCESS
        }
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("disk_to_log: {e}");
            ExitCode::FAILURE
        }
    }
}
