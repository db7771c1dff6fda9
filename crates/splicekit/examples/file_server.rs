//! A file server: accepts one TCP connection, sends it a file with the copy engine (which
//! picks `sendfile(2)` for file → socket) and closes it.
//!
//! The engine lets a socket reference a file's page cache only when told the file will not
//! change while it is being sent ([`FilePages::Share`]); with the default
//! ([`FilePages::Copy`]) it copies through a buffer, because bytes still queued in a socket
//! would otherwise show a later write or truncation of the file.
//!
//! ```sh
//! # Serve FILE to one client on ADDR (default 127.0.0.1:8000), then exit:
//! cargo run -p splicekit --example file_server -- FILE 127.0.0.1:8000 &
//! nc 127.0.0.1 8000 > copy
//! # With no arguments it serves a temporary file to a client of its own on a free port,
//! # checks the client's bytes by SHA-256 and exits 1 on a mismatch:
//! cargo run -p splicekit --example file_server
//! ```

use std::error::Error;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::ExitCode;

use sha2::{Digest, Sha256};
use splicekit::{copy_with, CopyOptions, CopyReport, FilePages};

/// Accepts one connection on `listener` and sends it `file` from its current position.
fn serve_one(listener: &TcpListener, file: &File) -> Result<CopyReport, Box<dyn Error>> {
    let (stream, peer) = listener.accept()?;
    let opts = CopyOptions {
        file_pages: FilePages::Share,
        ..CopyOptions::default()
    };
    let report = copy_with(file, &stream, &opts)?;
    // The client reads until EOF: say there is no more.
    stream.shutdown(Shutdown::Write)?;
    eprintln!(
        "file_server: {peer}: {} bytes by {} in {} calls",
        report.bytes, report.strategy, report.syscalls
    );
    Ok(report)
}

fn self_check() -> Result<bool, Box<dyn Error>> {
    let mut ok = true;
    // Empty, one byte, a page, odd sizes around the 64 KiB socket chunks, a few MiB.
    for size in [0usize, 1, 4096, 65537, (5 << 20) + 11] {
        let content: Vec<u8> = (0..size).map(|i| (i % 241) as u8 ^ 0x5a).collect();
        let mut file = tempfile::tempfile()?;
        file.write_all(&content)?;
        std::io::Seek::rewind(&mut file)?;

        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let client = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
            let mut got = Vec::new();
            TcpStream::connect(addr)?.read_to_end(&mut got)?;
            Ok(got)
        });
        let report = serve_one(&listener, &file)?;
        let got = client.join().expect("client panicked")?;
        let good = report.bytes == size as u64 && Sha256::digest(&got) == Sha256::digest(&content);
        if !good {
            eprintln!(
                "file_server: MISMATCH at {size} bytes: the client got {}",
                got.len()
            );
        }
        ok &= good;
    }
    Ok(ok)
}

fn run(path: &str, addr: &str) -> Result<(), Box<dyn Error>> {
    let file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let listener = TcpListener::bind(addr)?;
    eprintln!(
        "file_server: serving {path} once on {}",
        listener.local_addr()?
    );
    serve_one(&listener, &file)?;
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [] => self_check(),
        [path] => run(path, "127.0.0.1:8000").map(|()| true),
        [path, addr] => run(path, addr).map(|()| true),
        _ => Err("usage: file_server [FILE [ADDR]]".into()),
    };
    match result {
        Ok(true) => {
            if args.is_empty() {
                println!("file_server: ok");
            }
            ExitCode::SUCCESS
        }
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("file_server: {e}");
            ExitCode::FAILURE
        }
    }
}
