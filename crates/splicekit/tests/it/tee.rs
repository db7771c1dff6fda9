//! FanOut: every output byte-identical to the input for 1, 2, 4 and 16 outputs mixing pipes,
//! files, /dev/null and sockets, from pipe, file and socket inputs; slow, failing and closing
//! outputs under both policies.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::thread::JoinHandle;
use std::time::Duration;

use splicekit::{sys, Action, Backend, FanOut, FdKind, OutputPath, PipeFlags};

use crate::util::*;

/// An output under test: the descriptor the fan-out writes, and how to get back what it got.
struct Sink {
    fd: OwnedFd,
    back: Back,
    path: OutputPath,
}

enum Back {
    Thread(JoinHandle<Vec<u8>>),
    File(File),
    Nothing,
}

impl Sink {
    fn result(self) -> Option<Vec<u8>> {
        drop(self.fd);
        match self.back {
            Back::Thread(t) => Some(t.join().unwrap()),
            Back::File(f) => Some(read_file(&f)),
            Back::Nothing => None,
        }
    }
}

/// The sink kinds, in rotation: pipe, file (written from the shared copy), /dev/null, unix
/// socket, TCP socket, O_APPEND file.
fn sink(i: usize, splice_files: bool) -> Sink {
    match i % 6 {
        0 => {
            let (w, t) = drained_pipe(false);
            Sink {
                fd: w,
                back: Back::Thread(t),
                path: OutputPath::Tee,
            }
        }
        1 => {
            let f = tempfile::tempfile_in(tmpfs_dir()).unwrap();
            let fd = f.try_clone().unwrap().into();
            Sink {
                fd,
                back: Back::File(f),
                path: if splice_files {
                    OutputPath::TeeSplice
                } else {
                    OutputPath::Copy
                },
            }
        }
        2 => Sink {
            fd: open_write("/dev/null").into(),
            back: Back::Nothing,
            path: OutputPath::TeeSplice,
        },
        3 => {
            let (a, b) = unix_stream_pair();
            Sink {
                fd: a.into(),
                back: Back::Thread(reader_thread(b)),
                path: OutputPath::TeeSplice,
            }
        }
        4 => {
            let (a, b) = tcp_pair();
            Sink {
                fd: a.into(),
                back: Back::Thread(reader_thread(b)),
                path: OutputPath::TeeSplice,
            }
        }
        _ => {
            let (f, p) = append_file(std::path::Path::new(tmpfs_dir()));
            let keep = File::open(&p).unwrap();
            drop(p);
            Sink {
                fd: f.into(),
                back: Back::File(keep),
                path: OutputPath::Copy,
            }
        }
    }
}

/// An input of kind `k` (0 pipe, 1 file, 2 unix socket) holding `content`.
fn input(k: usize, content: &[u8]) -> (OwnedFd, Option<JoinHandle<()>>) {
    match k {
        0 => {
            let (r, t) = fed_pipe(content.to_vec(), false);
            (r, Some(t))
        }
        1 => (
            file_in(std::path::Path::new(tmpfs_dir()), content).into(),
            None,
        ),
        _ => {
            let (a, b) = unix_stream_pair();
            (b.into(), Some(writer_thread(a, content.to_vec())))
        }
    }
}

fn fan(n_out: usize, in_kind: usize, content: &[u8], splice_files: bool) {
    fan_on(n_out, in_kind, content, splice_files, Backend::Blocking);
}

pub(crate) fn fan_on(
    n_out: usize,
    in_kind: usize,
    content: &[u8],
    splice_files: bool,
    backend: Backend,
) {
    let sinks: Vec<Sink> = (0..n_out).map(|i| sink(i, splice_files)).collect();
    let (inp, feeder) = input(in_kind, content);
    let mut f = FanOut::new().splice_files(splice_files).backend(backend);
    for s in &sinks {
        f = f.output(&s.fd);
    }
    let report = f
        .run(&inp)
        .unwrap_or_else(|e| panic!("{n_out} outputs, input {in_kind}: {e}"));
    drop(f);
    if let Some(t) = feeder {
        t.join().unwrap();
    }
    assert_eq!(report.bytes_in, content.len() as u64);
    let want = sha(content);
    for (i, (s, r)) in sinks.into_iter().zip(&report.outputs).enumerate() {
        let what = format!(
            "{n_out} outputs, input kind {in_kind}, output {i}, {} bytes",
            content.len()
        );
        assert!(r.error.is_none(), "{what}: {:?}", r.error);
        assert_eq!(r.bytes, content.len() as u64, "{what}");
        assert_eq!(r.path, s.path, "{what}");
        if let Some(got) = s.result() {
            assert_eq!(sha(&got), want, "{what}");
        }
    }
}

#[test]
fn every_output_gets_every_byte() {
    for n_out in [1, 2, 4, 16] {
        for in_kind in 0..3 {
            for n in SIZES.into_iter().chain([(3 << 20) + 1]) {
                fan(n_out, in_kind, &data(n), false);
                if n_out == 4 {
                    fan(n_out, in_kind, &data(n), true);
                }
            }
        }
    }
}

#[test]
fn a_slow_output_holds_the_others_back_with_bounded_buffering() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let content = data(24 << 20);
    let (inp, feeder) = fed_pipe(content.clone(), false);
    let (fast_r, fast_w) = sys::pipe(PipeFlags::CLOEXEC).unwrap();
    let (slow_r, slow_w) = sys::pipe(PipeFlags::CLOEXEC).unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let fast = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let (mut f, mut v, mut buf) = (File::from(fast_r), Vec::new(), vec![0u8; 65536]);
            loop {
                let n = f.read(&mut buf).unwrap();
                if n == 0 {
                    return v;
                }
                v.extend_from_slice(&buf[..n]);
                seen.fetch_add(n as u64, Ordering::SeqCst);
            }
        })
    };
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let slow = std::thread::spawn(move || {
        wait.recv().unwrap();
        let mut v = Vec::new();
        File::from(slow_r).read_to_end(&mut v).unwrap();
        v
    });
    let runner = std::thread::spawn(move || {
        let r = FanOut::new()
            .output(&fast_w)
            .output(&slow_w)
            .run(&inp)
            .unwrap();
        r.bytes_in
    });
    // While the slow reader sleeps, the fast one can get ahead by at most what the pipes
    // hold (the slow output's 1 MiB pipe and one round of at most 1 MiB), not 24 MiB.
    std::thread::sleep(Duration::from_millis(500));
    let ahead = seen.load(Ordering::SeqCst);
    assert!(
        ahead > 0 && ahead <= 3 << 20,
        "fast reader got {ahead} bytes"
    );
    go.send(()).unwrap();
    assert_eq!(runner.join().unwrap(), content.len() as u64);
    feeder.join().unwrap();
    assert_eq!(sha(&fast.join().unwrap()), sha(&content));
    assert_eq!(sha(&slow.join().unwrap()), sha(&content));
}

#[test]
fn a_closed_reader_is_detached_or_stops_the_run() {
    sys::ignore_sigpipe().unwrap();
    let content = data(8 << 20);
    for policy in [Action::Detach, Action::Stop] {
        let (inp, feeder) = fed_pipe(content.clone(), false);
        let (early_r, early_w) = sys::pipe(PipeFlags::CLOEXEC).unwrap();
        let quitter = std::thread::spawn(move || {
            let mut b = [0u8; 1000];
            File::from(early_r).read_exact(&mut b).unwrap();
        });
        let (w1, t1) = drained_pipe(false);
        let file = tempfile::tempfile().unwrap();
        let mut seen = Vec::new();
        let res = FanOut::new()
            .output(&w1)
            .output(&early_w)
            .output(&file)
            .run_with(&inp, |i, e| {
                seen.push((i, e.io_error().raw_os_error(), e.sink_kind()));
                policy
            });
        drop((w1, early_w));
        quitter.join().unwrap();
        assert_eq!(seen, [(1, Some(libc::EPIPE), FdKind::Pipe)], "{policy:?}");
        match policy {
            Action::Detach => {
                let r = res.unwrap();
                assert_eq!(r.bytes_in, content.len() as u64);
                let e = r.outputs[1].error.as_ref().unwrap();
                assert!(e.is_broken_pipe());
                assert!(r.outputs[1].bytes >= 1000 && r.outputs[1].bytes < content.len() as u64);
                assert_eq!(sha(&read_file(&file)), sha(&content));
                assert_eq!(sha(&t1.join().unwrap()), sha(&content));
                feeder.join().unwrap();
            }
            Action::Stop => {
                let e = res.unwrap_err();
                assert_eq!(e.output, Some(1));
                assert!(e.to_string().starts_with("output 1: "), "{e}");
                // What the others got is a prefix of the input, the same for both.
                let got = t1.join().unwrap();
                assert_eq!(got[..], content[..got.len()]);
                let f = read_file(&file);
                assert_eq!(f[..], content[..f.len()]);
                drop(inp);
                let _ = feeder.join();
            }
        }
    }
}

#[test]
fn a_full_device_is_reported_with_its_kind_and_the_rest_go_on() {
    let content = data((2 << 20) + 7);
    let (inp, feeder) = fed_pipe(content.clone(), false);
    let full = open_write("/dev/full");
    let (w, t) = drained_pipe(false);
    let mut errors = Vec::new();
    let r = FanOut::new()
        .output(&full)
        .output(&w)
        .run_with(&inp, |i, e| {
            errors.push((i, e.to_string()));
            Action::Detach
        })
        .unwrap();
    drop(w);
    feeder.join().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, 0);
    assert!(
        errors[0].1.starts_with(
            "write(pipe -> character device) failed after 0 bytes: No space left on device"
        ),
        "{}",
        errors[0].1
    );
    assert_eq!(r.outputs[0].bytes, 0);
    assert_eq!(sha(&t.join().unwrap()), sha(&content));
}

#[test]
fn input_errors_name_the_input() {
    let dir = File::open(tmpfs_dir()).unwrap();
    let (w, _t) = drained_pipe(false);
    let e = FanOut::new().output(&w).run(&dir).unwrap_err();
    assert_eq!(e.output, None);
    assert_eq!(e.error.io_error().raw_os_error(), Some(libc::EISDIR));
    assert_eq!(e.error.source_kind(), FdKind::Directory);
}

#[test]
fn short_tees_into_small_nonblocking_pipes_are_caught_up() {
    short_tees_caught_up(Backend::Blocking);
}

pub(crate) fn short_tees_caught_up(backend: Backend) {
    // Output pipes of one page (left at that size), one of them non-blocking, read slowly,
    // behind a 1 MiB input pipe: nearly every tee is short or would block, so rounds are
    // finished through the scratch pipe.
    let content = data((1 << 20) + 4097);
    let (inp, feeder) = fed_pipe(content.clone(), false);
    let mut outs = Vec::new();
    let mut readers = Vec::new();
    for nonblock in [false, true] {
        let (r, w) = sys::pipe(PipeFlags::CLOEXEC).unwrap();
        sys::set_pipe_capacity(&w, 4096).unwrap();
        if nonblock {
            set_nonblock(&w);
        }
        readers.push(std::thread::spawn(move || {
            let (mut f, mut v, mut buf) = (File::from(r), Vec::new(), vec![0u8; 3000]);
            loop {
                let n = f.read(&mut buf).unwrap();
                if n == 0 {
                    return v;
                }
                v.extend_from_slice(&buf[..n]);
            }
        }));
        outs.push(w);
    }
    let r = FanOut::new()
        .resize_outputs(false)
        .backend(backend)
        .output(&outs[0])
        .output(&outs[1])
        .run(&inp)
        .unwrap();
    drop(outs);
    feeder.join().unwrap();
    assert_eq!(r.bytes_in, content.len() as u64);
    for t in readers {
        assert_eq!(sha(&t.join().unwrap()), sha(&content));
    }
}

#[test]
fn more_than_a_gigabyte_through_two_pipes_and_a_file() {
    // 1 GiB + 1 byte of a pattern, written by a thread; two pipe readers and a file compare
    // against the same pattern chunk by chunk (no 1 GiB buffers in the test).
    const N: u64 = (1 << 30) + 1;
    let block = data(1 << 20);
    let (r, w) = sys::pipe(PipeFlags::CLOEXEC).unwrap();
    let feed = {
        let block = block.clone();
        std::thread::spawn(move || {
            let mut w = File::from(w);
            let mut left = N;
            while left > 0 {
                let n = left.min(block.len() as u64) as usize;
                w.write_all(&block[..n]).unwrap();
                left -= n as u64;
            }
        })
    };
    let check = |fd: OwnedFd, block: Vec<u8>| {
        std::thread::spawn(move || {
            let mut f = File::from(fd);
            let (mut at, mut buf) = (0u64, vec![0u8; 1 << 20]);
            loop {
                let n = f.read(&mut buf).unwrap();
                if n == 0 {
                    return at;
                }
                let mut i = 0;
                while i < n {
                    let pos = ((at + i as u64) % block.len() as u64) as usize;
                    let take = (n - i).min(block.len() - pos);
                    assert!(
                        buf[i..i + take] == block[pos..pos + take],
                        "at {}",
                        at + i as u64
                    );
                    i += take;
                }
                at += n as u64;
            }
        })
    };
    let (r1, w1) = sys::pipe(PipeFlags::CLOEXEC).unwrap();
    let (r2, w2) = sys::pipe(PipeFlags::CLOEXEC).unwrap();
    let (c1, c2) = (check(r1, block.clone()), check(r2, block.clone()));
    let file = tempfile::tempfile().unwrap();
    let rep = FanOut::new()
        .output(&w1)
        .output(&file)
        .output(&w2)
        .run(&r)
        .unwrap();
    drop((w1, w2));
    feed.join().unwrap();
    assert_eq!(rep.bytes_in, N);
    assert_eq!((c1.join().unwrap(), c2.join().unwrap()), (N, N));
    use std::io::Seek;
    let mut file = file;
    file.rewind().unwrap();
    assert_eq!(check(file.into(), block).join().unwrap(), N);
}
