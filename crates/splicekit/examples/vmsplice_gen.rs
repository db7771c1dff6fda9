//! A generator that writes into a pipe with `vmsplice(2)`: the pages are handed to the pipe by
//! reference, so the bytes are never copied by the writer. Two ways of producing them:
//!
//! * repeated content: one [`FrozenPages`] buffer (immutable forever) sent again and again —
//!   what `yes` does, without a copy per round;
//! * changing content: a fresh [`PageBuf`] per block, filled and then *given* to the writer by
//!   value, so it cannot be modified while the pipe still refers to it.
//!
//! ```sh
//! # Write BYTES of "y\n" to stdout, which must be a pipe:
//! cargo run --release -p splicekit --example vmsplice_gen -- 1G | wc -c
//! # With no arguments it checks itself through a pipe of its own and exits 1 on a mismatch:
//! cargo run -p splicekit --example vmsplice_gen
//! ```

use std::error::Error;
use std::io::Read;
use std::os::fd::AsFd;
use std::process::ExitCode;

use splicekit::{FrozenPages, PageBuf, PageSize, Pipe, Release, VmspliceWriter};

/// 1 MiB of `y\n`: a whole number of pages, so every send ends on a line boundary.
fn yes_pages() -> std::io::Result<FrozenPages> {
    let mut buf = PageBuf::new(1 << 20, PageSize::Base)?;
    for pair in buf.chunks_exact_mut(2) {
        pair.copy_from_slice(b"y\n");
    }
    Ok(buf.freeze())
}

/// Sends `total` bytes of `y\n` (`total` even) into the pipe `out`.
fn yes<P: AsFd>(out: &mut VmspliceWriter<P>, total: u64) -> Result<(), Box<dyn Error>> {
    let pages = yes_pages()?;
    let mut left = total;
    while left > 0 {
        let n = left.min(pages.len() as u64) as usize;
        out.send_frozen(&pages, 0..n)?;
        left -= n as u64;
    }
    Ok(())
}

/// Sends `blocks` blocks of 64 KiB, block `i` filled with the byte `i`: new content in every
/// buffer, each buffer moved into the writer.
fn numbered<P: AsFd>(out: &mut VmspliceWriter<P>, blocks: u8) -> Result<(), Box<dyn Error>> {
    for i in 0..blocks {
        let mut page = out.page(PageSize::Base)?;
        page.truncate(64 << 10);
        page.fill(i);
        out.send(page)?; // `page` is gone now: nothing here can change what the reader sees
    }
    Ok(out.flush()?)
}

fn self_check() -> Result<bool, Box<dyn Error>> {
    const YES: u64 = (5 << 20) + 6; // more than one buffer, not a multiple of it
    const BLOCKS: u8 = 40;
    let (r, w) = Pipe::new()?.into_ends();
    // The reader runs at once: the pipe holds 64 KiB, far less than what is sent.
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        std::fs::File::from(r).read_to_end(&mut got).map(|_| got)
    });
    {
        // Recycle: a sent buffer's pages are replaced by fresh ones and reused by `page`.
        let mut out = VmspliceWriter::new(w)?.release(Release::Recycle);
        yes(&mut out, YES)?;
        numbered(&mut out, BLOCKS)?;
        println!("vmsplice_gen: {} bytes queued", out.bytes_sent());
    } // the writer (and the pipe's write end) closes: the reader sees EOF
    let got = reader.join().expect("reader thread panicked")?;
    let (head, tail) = got.split_at(got.len().min(YES as usize));
    let mut ok = got.len() as u64 == YES + u64::from(BLOCKS) * (64 << 10);
    ok &= head.chunks(2).all(|c| c == b"y\n");
    ok &= tail
        .chunks(64 << 10)
        .enumerate()
        .all(|(i, block)| block.iter().all(|&b| b as usize == i));
    if !ok {
        eprintln!("vmsplice_gen: MISMATCH ({} bytes read)", got.len());
    }
    Ok(ok)
}

fn main() -> ExitCode {
    let arg = std::env::args().nth(1);
    let result = match arg.as_deref() {
        None => self_check(),
        Some(n) => parse_size(n)
            .ok_or_else(|| format!("usage: vmsplice_gen [BYTES[K|M|G]]  (got {n:?})").into())
            .and_then(|n| {
                let mut out = VmspliceWriter::new(std::io::stdout())
                    .map_err(|e| format!("stdout must be a pipe: {e}"))?;
                yes(&mut out, n & !1)?;
                out.flush()?;
                Ok(true)
            }),
    };
    match result {
        Ok(true) => {
            if arg.is_none() {
                println!("vmsplice_gen: ok");
            }
            ExitCode::SUCCESS
        }
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("vmsplice_gen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_size(s: &str) -> Option<u64> {
    let (num, mult) = match s.as_bytes().last()? {
        b'K' => (&s[..s.len() - 1], 1 << 10),
        b'M' => (&s[..s.len() - 1], 1 << 20),
        b'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}
