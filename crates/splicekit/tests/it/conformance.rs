//! FACTS.md §1: the kernel's behaviours, reproduced through `splicekit::sys` with the errno kept.
//! Row ids (B5, T6, …) refer to FACTS.md.

use std::fs::{File, OpenOptions};
use std::os::fd::OwnedFd;

use splicekit::sys::{self, PipeFlags, SpliceFlags};

use crate::util::*;

fn errno<T: std::fmt::Debug>(r: std::io::Result<T>) -> i32 {
    r.expect_err("call should fail")
        .raw_os_error()
        .expect("an errno")
}

fn pipe() -> (OwnedFd, OwnedFd) {
    sys::pipe(PipeFlags::CLOEXEC).unwrap()
}

fn file_with(content: &[u8]) -> File {
    ext4_file(content)
}

fn read_n(fd: &OwnedFd, n: usize) -> Vec<u8> {
    let mut v = vec![0; n];
    let k = sys::read(fd, &mut v, None).unwrap();
    v.truncate(k);
    v
}

const E: SpliceFlags = SpliceFlags::empty();

#[test]
fn b3_b4_wrong_access_mode_is_ebadf() {
    let (r, w) = pipe();
    let wo = OpenOptions::new().write(true).open("/dev/null").unwrap();
    assert_eq!(errno(sys::splice(&wo, None, &w, None, 10, E)), libc::EBADF);
    let ro = read_only(&file_with(b"x"));
    sys::write(&w, b"abc", None).unwrap();
    assert_eq!(errno(sys::splice(&r, None, &ro, None, 10, E)), libc::EBADF);
}

#[test]
fn b5_b32_append_destination_is_einval() {
    let (r, w) = pipe();
    let (app, _p) = append_file(&std::env::temp_dir());
    sys::write(&w, b"abc", None).unwrap();
    assert_eq!(errno(sys::splice(&r, None, &app, None, 3, E)), libc::EINVAL);
    let null_app = OpenOptions::new().append(true).open("/dev/null").unwrap();
    assert_eq!(
        errno(sys::splice(&r, None, &null_app, None, 3, E)),
        libc::EINVAL
    );
    // A pipe with O_APPEND set is fine.
    let (r2, w2) = pipe();
    let fl = rustix::fs::fcntl_getfl(&w2).unwrap();
    rustix::fs::fcntl_setfl(&w2, fl | rustix::fs::OFlags::APPEND).unwrap();
    assert_eq!(sys::splice(&r, None, &w2, None, 3, E).unwrap(), 3);
    assert_eq!(read_n(&r2, 3), b"abc");
}

#[test]
fn b6_b10_neither_a_pipe_or_the_same_pipe_is_einval() {
    let (a, b) = (file_with(b"hello"), tempfile::tempfile().unwrap());
    assert_eq!(errno(sys::splice(&a, None, &b, None, 5, E)), libc::EINVAL);
    let (r, w) = pipe();
    sys::write(&w, b"abc", None).unwrap();
    assert_eq!(errno(sys::splice(&r, None, &w, None, 3, E)), libc::EINVAL);
}

#[test]
fn b7_b8_offset_on_a_pipe_is_espipe_and_b9_negative_offset_is_einval() {
    let (r, w) = pipe();
    let f = file_with(b"hello world");
    let mut off = 0u64;
    sys::write(&w, b"abc", None).unwrap();
    assert_eq!(
        errno(sys::splice(&r, Some(&mut off), &f, None, 3, E)),
        libc::ESPIPE
    );
    assert_eq!(
        errno(sys::splice(&f, None, &w, Some(&mut off), 3, E)),
        libc::ESPIPE
    );
    let mut neg = u64::MAX - 5; // -6 as loff_t
    assert_eq!(
        errno(sys::splice(&f, Some(&mut neg), &w, None, 3, E)),
        libc::EINVAL
    );
}

#[test]
fn b11_zero_length_returns_zero_and_b12_unknown_flags_are_einval() {
    let (r, w) = pipe();
    let f = tempfile::tempfile().unwrap();
    assert_eq!(sys::splice(&r, None, &f, None, 0, E).unwrap(), 0);
    let bad = SpliceFlags::from_bits_retain(0xf0);
    sys::write(&w, b"abc", None).unwrap();
    assert_eq!(errno(sys::splice(&r, None, &f, None, 3, bad)), libc::EINVAL);
    // B13: GIFT is inside SPLICE_F_ALL, so splice accepts it.
    assert_eq!(
        sys::splice(&r, None, &f, None, 3, SpliceFlags::GIFT).unwrap(),
        3
    );
}

#[test]
fn b14_b16_directories_and_eventfds_are_einval() {
    let (_r, w) = pipe();
    let dir = File::open("/tmp").unwrap();
    assert_eq!(
        errno(sys::splice(&dir, None, &w, None, 10, E)),
        libc::EINVAL
    );
    let ev = rustix::event::eventfd(1, rustix::event::EventfdFlags::CLOEXEC).unwrap();
    assert_eq!(errno(sys::splice(&ev, None, &w, None, 8, E)), libc::EINVAL);
}

#[test]
fn b17_huge_lengths_are_clamped_not_refused() {
    let (r, w) = pipe();
    let f = file_with(b"hello");
    assert_eq!(sys::splice(&f, None, &w, None, usize::MAX, E).unwrap(), 5);
    assert_eq!(read_n(&r, 5), b"hello");
}

#[test]
fn b20_b21_b22_offsets_leave_the_file_position_alone() {
    let (r, w) = pipe();
    let mut f = file_with(b"hello world");
    let mut off = 6;
    assert_eq!(sys::splice(&f, Some(&mut off), &w, None, 5, E).unwrap(), 5);
    assert_eq!(off, 11);
    assert_eq!(read_n(&r, 5), b"world");
    use std::io::Seek;
    assert_eq!(f.stream_position().unwrap(), 0);
    assert_eq!(sys::splice(&f, None, &w, None, 5, E).unwrap(), 5);
    assert_eq!(f.stream_position().unwrap(), 5);
    assert_eq!(
        sys::splice(&f, Some(&mut off), &w, None, 5, E).unwrap(),
        0,
        "at EOF"
    );
    let mut beyond = 1 << 40;
    assert_eq!(
        sys::splice(&f, Some(&mut beyond), &w, None, 5, E).unwrap(),
        0
    );
}

#[test]
fn b23_b24_a_file_fills_at_most_the_pipe_and_b25_pipe_to_pipe_moves_part() {
    let (r, w) = pipe();
    let f = file_with(&data(300_000));
    assert_eq!(sys::splice(&f, None, &w, None, 300_000, E).unwrap(), 65536);
    drop(r);
    let (r, w) = pipe();
    let (r2, w2) = pipe();
    sys::write(&w, b"0123456789", None).unwrap();
    assert_eq!(sys::splice(&r, None, &w2, None, 3, E).unwrap(), 3);
    assert_eq!(read_n(&r2, 10), b"012");
    assert_eq!(read_n(&r, 10), b"3456789");
    drop(w);
    assert_eq!(
        sys::splice(&r, None, &w2, None, 3, E).unwrap(),
        0,
        "B26: EOF"
    );
}

#[test]
fn b30_b31_b33_device_sinks_and_sources() {
    let (r, w) = pipe();
    sys::write(&w, &[1u8; 1024], None).unwrap();
    let null = open_write("/dev/null");
    assert_eq!(sys::splice(&r, None, &null, None, 1024, E).unwrap(), 1024);
    sys::write(&w, &[1u8; 1024], None).unwrap();
    let full = open_write("/dev/full");
    assert_eq!(
        errno(sys::splice(&r, None, &full, None, 1024, E)),
        libc::EINVAL
    );
    let null_in = open_read("/dev/null");
    assert_eq!(
        errno(sys::splice(&null_in, None, &w, None, 16, E)),
        libc::EINVAL
    );
    let zero = open_read("/dev/zero");
    let (r2, w2) = pipe();
    assert_eq!(sys::splice(&zero, None, &w2, None, 100, E).unwrap(), 100);
    assert_eq!(read_n(&r2, 100), vec![0; 100]);
}

#[test]
fn n2_n3_nonblocking_empty_pipes_give_eagain() {
    let (r, _w) = pipe();
    let (_r2, w2) = pipe();
    let again = |x| errno(x) == libc::EAGAIN;
    assert!(again(sys::splice(
        &r,
        None,
        &w2,
        None,
        10,
        SpliceFlags::NONBLOCK
    )));
    set_nonblock(&r);
    assert!(
        again(sys::splice(&r, None, &w2, None, 10, E)),
        "N3: O_NONBLOCK source"
    );
}

#[test]
fn p1_p6_readerless_pipes_give_epipe() {
    // The test harness runs with SIGPIPE ignored, as every Rust program does.
    let (r, w) = pipe();
    drop(r);
    let f = file_with(b"hello");
    assert_eq!(errno(sys::splice(&f, None, &w, None, 5, E)), libc::EPIPE);
    let (r2, w2) = pipe();
    sys::write(&w2, b"abc", None).unwrap();
    assert_eq!(errno(sys::tee(&r2, &w, 3, E)), libc::EPIPE);
}

#[test]
fn t1_t5_t7_t8_tee_argument_errors() {
    let f = file_with(b"hello");
    let (r, w) = pipe();
    let (r2, w2) = pipe();
    assert_eq!(errno(sys::tee(&f, &w, 5, E)), libc::EINVAL);
    assert_eq!(errno(sys::tee(&r, &f, 5, E)), libc::EINVAL);
    assert_eq!(errno(sys::tee(&r, &w, 5, E)), libc::EINVAL);
    assert_eq!(sys::tee(&f, &f, 0, E).unwrap(), 0, "T4");
    sys::write(&w, b"1234", None).unwrap();
    assert_eq!(
        errno(sys::tee(&r, &w2, 4, SpliceFlags::from_bits_retain(0xf0))),
        libc::EINVAL
    );
    assert_eq!(errno(sys::tee(&w, &w2, 4, E)), libc::EBADF);
    assert_eq!(errno(sys::tee(&r, &r2, 4, E)), libc::EBADF);
}

#[test]
fn t6_t13_tee_duplicates_without_consuming() {
    let (r, w) = pipe();
    let (r2, w2) = pipe();
    sys::write(&w, b"1234", None).unwrap();
    assert_eq!(sys::tee(&r, &w2, 4, E).unwrap(), 4);
    assert_eq!(
        sys::tee(&r, &w2, 4, E).unwrap(),
        4,
        "T13: same head bytes again"
    );
    assert_eq!(read_n(&r2, 16), b"12341234");
    assert_eq!(read_n(&r, 16), b"1234");
    assert_eq!(
        errno(sys::tee(&r, &w2, 4, SpliceFlags::NONBLOCK)),
        libc::EAGAIN,
        "T9"
    );
    drop(w);
    assert_eq!(sys::tee(&r, &w2, 4, E).unwrap(), 0, "T11");
}

#[test]
fn pipe_sizing_rounds_up_and_refuses_to_shrink_below_queued_bytes() {
    let (r, w) = pipe();
    assert_eq!(sys::pipe_capacity(&r).unwrap(), 65536);
    assert_eq!(sys::set_pipe_capacity(&w, 5000).unwrap(), 8192);
    sys::write(&w, &[0u8; 8192], None).unwrap();
    assert_eq!(errno(sys::set_pipe_capacity(&w, 4096)), libc::EBUSY);
    let f = file_with(b"x");
    assert_eq!(errno(sys::pipe_capacity(&f)), libc::EBADF);
}

#[test]
fn sendfile_and_copy_file_range_refusals() {
    let src = file_with(b"hello world");
    let (app, _p) = append_file(&std::env::temp_dir());
    assert_eq!(
        errno(sys::sendfile(&app, &src, None, 5)),
        libc::EINVAL,
        "L12"
    );
    assert_eq!(
        errno(sys::copy_file_range(&src, None, &app, None, 5)),
        libc::EBADF
    );
    let (r, _w) = pipe();
    let out = tempfile::tempfile().unwrap();
    assert_eq!(errno(sys::sendfile(&out, &r, None, 5)), libc::EINVAL, "L13");
    let mut neg = u64::MAX;
    assert_eq!(
        errno(sys::sendfile(&out, &src, Some(&mut neg), 5)),
        libc::EINVAL,
        "L14"
    );
    let ro = read_only(&file_with(b""));
    assert_eq!(
        errno(sys::copy_file_range(&src, None, &ro, None, 5)),
        libc::EBADF,
        "L10"
    );
    let dir = File::open("/tmp").unwrap();
    assert_eq!(
        errno(sys::copy_file_range(&dir, None, &out, None, 5)),
        libc::EISDIR,
        "L11"
    );
    let shm = tempfile::tempfile_in(tmpfs_dir()).unwrap();
    assert_eq!(
        errno(sys::copy_file_range(&src, None, &shm, None, 5)),
        libc::EXDEV,
        "F9"
    );
    let (mut a, mut b) = (0u64, 3u64);
    let same = OpenOptions::new()
        .read(true)
        .write(true)
        .open(proc_fd_path(&src))
        .unwrap();
    assert_eq!(
        errno(sys::copy_file_range(
            &src,
            Some(&mut a),
            &same,
            Some(&mut b),
            6
        )),
        libc::EINVAL,
        "L8"
    );
}

#[test]
fn offsets_past_4_gib_work_on_sparse_files() {
    let f = tempfile::tempfile().unwrap();
    let at = (9u64 << 29) + 17; // 4.5 GiB + 17
    use std::os::unix::fs::FileExt;
    f.write_all_at(b"far away", at).unwrap();
    let (r, w) = pipe();
    let mut off = at;
    assert_eq!(sys::splice(&f, Some(&mut off), &w, None, 8, E).unwrap(), 8);
    assert_eq!(read_n(&r, 8), b"far away");
    let mut off = at;
    let out = tempfile::tempfile().unwrap();
    assert_eq!(sys::sendfile(&out, &f, Some(&mut off), 100).unwrap(), 8);
    assert_eq!(read_file(&out), b"far away");
}

fn proc_fd_path(f: &File) -> String {
    use std::os::fd::AsRawFd;
    format!("/proc/self/fd/{}", f.as_raw_fd())
}

fn read_only(f: &File) -> File {
    File::open(proc_fd_path(f)).unwrap()
}

/// F3 (Dirty Pipe, CVE-2022-0847): writing into a pipe after a read-only file's page was spliced
/// into it must not change the file. Run on the CI kernel.
#[test]
fn f3_writing_after_a_splice_never_changes_a_read_only_file() {
    let content = data(8192);
    let path = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    std::fs::write(&path, &content).unwrap();
    let ro = File::open(&path).unwrap();
    for off in [1u64, 100, 4095] {
        let (r, w) = pipe();
        // Fill and drain the pipe so every buffer has been used once (the exploit's set-up).
        let cap = sys::pipe_capacity(&w).unwrap();
        sys::write(&w, &vec![0u8; cap], None).unwrap();
        read_n(&r, cap);
        let mut at = off - 1;
        assert_eq!(sys::splice(&ro, Some(&mut at), &w, None, 1, E).unwrap(), 1);
        sys::write(&w, b"PWNED", None).unwrap();
    }
    drop(ro);
    // Drop the page cache's view: re-read through a fresh descriptor.
    assert_eq!(sha(&std::fs::read(&path).unwrap()), sha(&content));
}

/// `close_all` closes every descriptor it is given — consecutive runs (one `close_range`) and
/// stragglers alike — and none it was not given: a descriptor opened between two of its own
/// stays open and readable. Checked through `/proc/self/fd` by path, which other tests'
/// descriptors (opened concurrently, on other files) cannot match.
#[test]
fn close_all_closes_exactly_the_descriptors_it_owns() {
    let dir = tempfile::tempdir().unwrap();
    let name = |i: usize| dir.path().join(format!("f{i}"));
    for i in 0..40 {
        std::fs::write(name(i), [i as u8]).unwrap();
    }
    let keep_path = dir.path().join("keep");
    std::fs::write(&keep_path, b"kept").unwrap();
    let mut owned: Vec<OwnedFd> = (0..20)
        .map(|i| File::open(name(i)).unwrap().into())
        .collect();
    // A descriptor that is not ours sits in the middle of the numbers, then more of ours.
    let keep = File::open(&keep_path).unwrap();
    owned.extend((20..40).map(|i| OwnedFd::from(File::open(name(i)).unwrap())));
    // Out of order, as a caller might hold them.
    owned.reverse();
    let open_here = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|p| p.starts_with(dir.path()))
            .collect()
    };
    assert_eq!(open_here().len(), 41);
    sys::close_all(&mut owned);
    assert!(owned.is_empty());
    assert_eq!(open_here(), vec![keep_path.clone()]);
    let mut s = String::new();
    std::io::Read::read_to_string(&mut &keep, &mut s).unwrap();
    assert_eq!(s, "kept");
}
