//! The oracle every fast path is checked against: a plain read/write copy, nothing clever.

use std::io::{Read, Write};

/// Copies `src` to `dst` with a 4 KiB buffer and `read`/`write_all`, returning the bytes.
pub fn copy<R: Read, W: Write>(mut src: R, mut dst: W) -> u64 {
    let mut buf = [0u8; 4096];
    let mut total = 0;
    loop {
        let n = src.read(&mut buf).unwrap();
        if n == 0 {
            return total;
        }
        dst.write_all(&buf[..n]).unwrap();
        total += n as u64;
    }
}

/// What a plain read of `path` gives.
pub fn read_path(path: &str) -> Vec<u8> {
    let mut v = Vec::new();
    copy(std::fs::File::open(path).unwrap(), &mut v);
    v
}
