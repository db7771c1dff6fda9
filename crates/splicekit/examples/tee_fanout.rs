//! A `tee(2)` fan-out: one input stream into several outputs with [`FanOut`]. Pipe outputs get
//! the bytes by `tee` (page references, no copy), sockets by `tee` into a private pipe and
//! `splice` out, regular files by `write` from one shared copy of each round.
//!
//! ```sh
//! # Like tee(1): stdin to stdout and to each FILE (stdout a pipe is the zero-copy case):
//! some-producer | cargo run -p splicekit --example tee_fanout -- a.log b.log | consumer
//! # With no arguments it checks itself (two pipes, a unix socket and a file, each output
//! # hashed against the input) and exits 1 on a mismatch:
//! cargo run -p splicekit --example tee_fanout
//! ```

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};
use splicekit::{FanOut, Pipe};

/// Reads `from` to its end on a thread; the thread returns the SHA-256 of what it read.
fn hash_on_thread<R: Read + Send + 'static>(mut from: R) -> JoinHandle<std::io::Result<Vec<u8>>> {
    std::thread::spawn(move || {
        let mut h = Sha256::new();
        let mut buf = vec![0; 1 << 16];
        loop {
            match from.read(&mut buf)? {
                0 => return Ok(h.finalize().to_vec()),
                n => h.update(&buf[..n]),
            }
        }
    })
}

fn self_check() -> Result<bool, Box<dyn std::error::Error>> {
    let input: Vec<u8> = (0..(4 << 20) + 3)
        .map(|i: u32| (i * 7 % 253) as u8)
        .collect();
    let want = Sha256::digest(&input).to_vec();

    // The input: a pipe fed by a thread, as stdin from a producer would be.
    let (in_r, in_w) = Pipe::new()?.into_ends();
    let feeder = std::thread::spawn(move || File::from(in_w).write_all(&input));

    // The outputs: two pipes and a unix socket, each read by a thread, and a file.
    let (a_r, a_w) = Pipe::new()?.into_ends();
    let (b_r, b_w) = Pipe::new()?.into_ends();
    let (sock_out, sock_in) = UnixStream::pair()?;
    let mut file = tempfile::tempfile()?;
    let readers = [
        hash_on_thread(File::from(a_r)),
        hash_on_thread(File::from(b_r)),
        hash_on_thread(sock_in),
    ];

    let report = FanOut::new()
        .output(&a_w)
        .output(&b_w)
        .output(&sock_out)
        .output(&file)
        .run(&in_r)?;
    // Close the outputs so their readers see EOF.
    drop((a_w, b_w, sock_out));
    feeder.join().expect("feeder panicked")?;

    let names = ["pipe a", "pipe b", "unix socket", "file"];
    let mut hashes = Vec::new();
    for r in readers {
        hashes.push(r.join().expect("reader panicked")?);
    }
    let mut written = Vec::new();
    std::io::Seek::rewind(&mut file)?;
    file.read_to_end(&mut written)?;
    hashes.push(Sha256::digest(&written).to_vec());

    let mut ok = report.bytes_in == (4 << 20) + 3;
    for ((name, out), hash) in names.iter().zip(&report.outputs).zip(&hashes) {
        let good = out.bytes == report.bytes_in && out.error.is_none() && *hash == want;
        println!("tee_fanout: {name}: {} bytes by {}", out.bytes, out.path);
        if !good {
            eprintln!("tee_fanout: MISMATCH on {name}");
        }
        ok &= good;
    }
    Ok(ok)
}

/// `tee FILE...`: stdin to stdout and every FILE (created or truncated).
fn run(paths: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let files = paths
        .iter()
        .map(|p| File::create(p).map_err(|e| format!("{p}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let stdout = std::io::stdout();
    let mut fan = FanOut::new().output(&stdout);
    for f in &files {
        fan = fan.output(f);
    }
    let report = fan.run(std::io::stdin())?;
    eprintln!(
        "tee_fanout: {} bytes to {} outputs",
        report.bytes_in,
        report.outputs.len()
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
                println!("tee_fanout: ok");
            }
            ExitCode::SUCCESS
        }
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("tee_fanout: {e}");
            ExitCode::FAILURE
        }
    }
}
