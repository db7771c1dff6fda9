//! `FilePages::Settle` against `FilePages::Share`: what a reader gets when the source file is
//! written or truncated after the copy returned, on tmpfs and on the disk.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};

use splicekit::{copy_with, CopyOptions, FilePages, Op, Side, Strategy, TRUNCATED};

use crate::util::*;

fn dirs() -> Vec<tempfile::TempDir> {
    vec![
        tempfile::tempdir().unwrap(),
        tempfile::tempdir_in(tmpfs_dir()).unwrap(),
    ]
}

fn pipe(cap: usize) -> (OwnedFd, OwnedFd) {
    let (r, w) = splicekit::sys::pipe(splicekit::sys::PipeFlags::CLOEXEC).unwrap();
    splicekit::sys::set_pipe_capacity(&w, cap).unwrap();
    (r, w)
}

fn read_all(r: OwnedFd) -> Vec<u8> {
    let mut v = Vec::new();
    File::from(r).read_to_end(&mut v).unwrap();
    v
}

fn opts(mode: FilePages) -> CopyOptions {
    CopyOptions {
        file_pages: mode,
        resize_pipes: false,
        ..CopyOptions::zero_copy()
    }
}

/// The copy fits the pipe: Settle copies all of it, Share leaves references that show a
/// later write (the effect `FilePages::Share` documents).
#[test]
fn a_write_after_the_copy_shows_under_share_and_not_under_settle() {
    for d in dirs() {
        for n in [1usize, 4095, 4096, 4097, 65535, 65536, 65537, 300_000] {
            let path = d.path().join("f");
            let original = data(n);
            for mode in [FilePages::Settle, FilePages::Share] {
                std::fs::write(&path, &original).unwrap();
                let (r, w) = pipe(1 << 20);
                let src = File::open(&path).unwrap();
                let rep = copy_with(&src, &w, &opts(mode)).unwrap();
                assert_eq!(rep.bytes, n as u64);
                drop(w);
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .unwrap()
                    .write_all(b"XXXXXXXX")
                    .unwrap();
                let got = read_all(r);
                if mode == FilePages::Settle {
                    assert_eq!(sha(&got), sha(&original), "settle, {n} bytes");
                    assert_eq!(rep.copied_tail, n as u64, "settle, {n}");
                } else {
                    let mut now = original.clone();
                    let k = n.min(8);
                    now[..k].copy_from_slice(&b"XXXXXXXX"[..k]);
                    assert_eq!(sha(&got), sha(&now), "share, {n} bytes");
                    assert_eq!(rep.copied_tail, 0, "share, {n}");
                }
            }
        }
    }
}

/// A file larger than the pipe: the body is spliced (the strategy says so), the last pipe's
/// worth is copied, and the reader, running alongside, gets every byte.
#[test]
fn settle_splices_the_body_and_copies_one_pipe_of_tail() {
    for n in [(1 << 20) - 1, 1 << 20, (1 << 20) + 1, (5 << 20) + 4097] {
        let src = ext4_file(&data(n));
        let (r, w) = pipe(256 << 10);
        let reader = reader_thread(File::from(r));
        let rep = copy_with(&src, &w, &opts(FilePages::Settle)).unwrap();
        drop(w);
        assert_eq!(sha(&reader.join().unwrap()), sha(&data(n)), "{n}");
        assert_eq!(rep.copied_tail, (256u64 << 10).min(n as u64), "{n}");
        assert_eq!(rep.strategy, Strategy::SpliceBroker, "{n}");
    }
}

/// A caller writing one file in chunks (as `splice pv` does) announces the rest of the file in
/// `followed_by`: only the chunks at the end are copied.
#[test]
fn followed_by_moves_the_copied_tail_to_the_end_of_the_whole_stream() {
    let n = (3 << 20) + 5;
    let src = ext4_file(&data(n));
    let (r, w) = pipe(1 << 20);
    let reader = reader_thread(File::from(r));
    let mut pos = 0u64;
    let mut tails = Vec::new();
    loop {
        let chunk = 1u64 << 19;
        let o = CopyOptions {
            len: Some(chunk),
            followed_by: (n as u64).saturating_sub(pos + chunk),
            ..opts(FilePages::Settle)
        };
        let rep = copy_with(&src, &w, &o).unwrap();
        if rep.bytes == 0 {
            break;
        }
        pos += rep.bytes;
        tails.push(rep.copied_tail);
    }
    drop(w);
    assert_eq!(sha(&reader.join().unwrap()), sha(&data(n)));
    let copied: u64 = tails.iter().rev().take_while(|&&t| t > 0).sum();
    assert_eq!(copied, 1 << 20, "tails {tails:?}");
    assert_eq!(tails[0], 0, "the first chunk is shared");
}

/// A file cut below what was shared from it, while the reader had not read it yet: an error
/// on the input side naming the check, never a success.
#[test]
fn a_file_cut_below_the_shared_bytes_is_an_error() {
    for d in dirs() {
        for mode in [FilePages::Settle, FilePages::Share] {
            let path = d.path().join("big");
            std::fs::write(&path, data(8 << 20)).unwrap();
            let src = File::open(&path).unwrap();
            let (r, w) = pipe(1 << 20);
            let rfd = r.try_clone().unwrap();
            let t = std::thread::spawn(move || {
                // Wait until the pipe is full, cut the file, then read everything.
                while rustix::io::ioctl_fionread(rfd.as_fd()).unwrap() < (1 << 20) {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                File::options()
                    .write(true)
                    .open(&path)
                    .unwrap()
                    .set_len(100_000)
                    .unwrap();
                read_all(r)
            });
            let e = copy_with(&src, &w, &opts(mode)).unwrap_err();
            drop(w);
            let got = t.join().unwrap();
            assert_eq!(e.op(), Op::Check, "{mode:?}: {e}");
            assert_eq!(e.side(), Side::Input, "{mode:?}");
            assert_eq!(e.io_error().to_string(), TRUNCATED, "{mode:?}");
            assert_eq!(e.bytes_moved(), got.len() as u64, "{mode:?}");
            assert_eq!(sha(&got[..100_000]), sha(&data(8 << 20)[..100_000]));
        }
    }
}
