//! The generator's engine: what bytes to make ([`Content`]) and how to deliver them ([`How`]),
//! shared by `splice gen` and `splice bench`.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use splicekit::{
    copy_with, CopyOptions, FdKind, FrozenPages, PageBuf, PageSize, Pipe, Release, VmspliceWriter,
};

/// The bytes to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A byte string repeated forever (`yes`: the operands joined by spaces, plus a newline).
    Repeat(Vec<u8>),
    /// A pseudo-random stream: SplitMix64 from `seed`, each output word little-endian.
    Random(u64),
}

/// How the bytes reach the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// `write(2)` from an ordinary buffer: the baseline.
    Write,
    /// vmsplice fresh pages filled per chunk, gifted and unmapped after ([`Release::Gift`]).
    Gift,
    /// vmsplice fresh pages filled per chunk, recycled with new pages ([`Release::Recycle`]).
    Recycle,
    /// vmsplice the same immutable pages again and again ([`FrozenPages`]); repeated content
    /// only.
    Shared,
}

impl How {
    pub const ALL: [How; 4] = [How::Write, How::Gift, How::Recycle, How::Shared];

    pub fn name(self) -> &'static str {
        match self {
            How::Write => "write",
            How::Gift => "gift",
            How::Recycle => "recycle",
            How::Shared => "shared",
        }
    }

    pub fn parse(s: &str) -> Option<How> {
        How::ALL.into_iter().find(|h| h.name() == s)
    }

    /// The fastest mode for `content` into a pipe.
    pub fn best_for(content: &Content) -> How {
        match content {
            Content::Repeat(_) => How::Shared,
            Content::Random(_) => How::Recycle,
        }
    }
}

/// How long a spinning writer busy-waits on a full pipe before it sleeps.
pub const SPIN_LIMIT: std::time::Duration = std::time::Duration::from_micros(200);

/// The tuning of one run.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// Bytes per system call.
    pub chunk: usize,
    /// Page size of the vmsplice buffers.
    pub pages: PageSize,
    /// On a full pipe, retry with `SPLICE_F_NONBLOCK` in a busy loop for up to [`SPIN_LIMIT`]
    /// before sleeping in a blocking call (shared mode): saves the sleep and wake-up when
    /// the reader keeps up.
    pub spin: bool,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            chunk: 1 << 20,
            pages: PageSize::Huge,
            spin: false,
        }
    }
}

/// A failure: the kernel's error (its errno kept, for messages like `yes` prints).
pub type Failure = io::Error;

fn os(e: splicekit::Error) -> io::Error {
    e.into_io_error()
}

/// Makes the bytes of `content` in order, chunk by chunk.
struct Maker {
    content: Content,
    /// For `Repeat`: the pattern repeated to `chunk + pattern` bytes, in frozen pages, and the
    /// offset where the next chunk starts.
    tile: Option<FrozenPages>,
    phase: usize,
    state: u64,
}

impl Maker {
    fn new(content: &Content, chunk: usize, pages: PageSize) -> io::Result<Maker> {
        let (tile, state) = match content {
            Content::Repeat(p) => {
                if p.is_empty() {
                    return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty pattern"));
                }
                let mut b = PageBuf::new(chunk + p.len(), pages)?;
                for (dst, src) in b.iter_mut().zip(p.iter().cycle()) {
                    *dst = *src;
                }
                (Some(b.freeze()), 0)
            }
            Content::Random(seed) => (None, *seed),
        };
        Ok(Maker {
            content: content.clone(),
            tile,
            phase: 0,
            state,
        })
    }

    /// The next `len` bytes as a window of the frozen tile (repeated content only).
    fn window(&mut self, len: usize) -> std::ops::Range<usize> {
        let Content::Repeat(p) = &self.content else {
            unreachable!("windows exist for repeated content only")
        };
        let r = self.phase..self.phase + len;
        self.phase = (self.phase + len) % p.len();
        r
    }

    /// Writes the next `buf.len()` bytes into `buf`.
    fn fill(&mut self, buf: &mut [u8]) {
        if let Some(tile) = self.tile.clone() {
            let r = self.window(buf.len());
            buf.copy_from_slice(&tile[r]);
            return;
        }
        let mut words = buf.chunks_exact_mut(8);
        for w in &mut words {
            w.copy_from_slice(&splitmix(&mut self.state).to_le_bytes());
        }
        let rest = words.into_remainder();
        if !rest.is_empty() {
            let last = splitmix(&mut self.state).to_le_bytes();
            rest.copy_from_slice(&last[..rest.len()]);
        }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): one 64-bit output per step.
fn splitmix(s: &mut u64) -> u64 {
    *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *s;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Writes `limit` bytes (forever if `None`) of `content` to `out` by `how`; returns the bytes
/// delivered. `out` must be a pipe for the vmsplice modes; see [`to_any`] for other kinds.
pub fn to_pipe(
    out: BorrowedFd<'_>,
    content: &Content,
    limit: Option<u64>,
    how: How,
    t: Tuning,
    tick: &dyn Fn(u64),
) -> Result<u64, Failure> {
    let mut left = limit.unwrap_or(u64::MAX);
    if how == How::Write {
        let mut maker = Maker::new(content, t.chunk, t.pages)?;
        return write_loop(out, &mut maker, left, t.chunk, tick);
    }
    let mut feeder = Feeder::new(out, content, how, t)?;
    while left > 0 {
        let n = feeder.push(left)?;
        tick(n);
        left -= n;
    }
    feeder.w.flush().map_err(os)?;
    Ok(feeder.w.bytes_sent())
}

fn write_loop(
    out: BorrowedFd<'_>,
    maker: &mut Maker,
    mut left: u64,
    chunk: usize,
    tick: &dyn Fn(u64),
) -> Result<u64, Failure> {
    let mut buf = vec![0u8; chunk];
    let mut total = 0;
    while left > 0 {
        let n = left.min(chunk as u64) as usize;
        maker.fill(&mut buf[..n]);
        let mut done = 0;
        while done < n {
            match splicekit::sys::write(out, &buf[done..n], None) {
                Ok(k) => done += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    splicekit::wait_ready(out, splicekit::Ready::Write)?
                }
                Err(e) => return Err(e),
            }
        }
        total += n as u64;
        left -= n as u64;
        tick(n as u64);
    }
    Ok(total)
}

/// Writes to any kind of descriptor: a pipe gets vmsplice directly; anything else gets the
/// bytes vmspliced into a private pipe and moved on by the copy engine (splice to files,
/// sockets and /dev/null; read/write where the kind refuses, as for a terminal).
pub fn to_any(
    out: BorrowedFd<'_>,
    content: &Content,
    limit: Option<u64>,
    how: How,
    t: Tuning,
    tick: &dyn Fn(u64),
) -> Result<u64, Failure> {
    let kind = FdKind::of(out)?;
    if kind == FdKind::Pipe || how == How::Write {
        return to_pipe(out, content, limit, how, t, tick);
    }
    let pipe = match Pipe::with_capacity(1 << 20) {
        Ok(p) => p,
        // No descriptor left for the private pipe (EMFILE, ENFILE): plain writes need none.
        Err(e) if out_of_descriptors(&e) => {
            return to_pipe(out, content, limit, How::Write, t, tick);
        }
        Err(e) => return Err(e),
    };
    // At most half the private pipe per step: a window that starts mid-page needs one slot
    // more than its size in pages, and the pipe must take a whole step without a reader.
    let step = (pipe.capacity() / 2) as u64;
    let (r, w) = pipe.into_ends();
    let opts = CopyOptions::zero_copy();
    let mut total = 0u64;
    let mut left = limit.unwrap_or(u64::MAX);
    // One chunk at a time: fill the private pipe, then let the engine empty it into `out`.
    let mut feeder = Feeder::new(w.as_fd(), content, how, t)?;
    while left > 0 {
        let n = feeder.push(left.min(step))?;
        let moved = copy_with(
            &r,
            out,
            &CopyOptions {
                len: Some(n),
                ..opts.clone()
            },
        )
        .map_err(os)?;
        total += moved.bytes;
        tick(moved.bytes);
        if moved.bytes < n {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("{kind} took {} of {n} bytes", moved.bytes),
            ));
        }
        left -= n;
    }
    Ok(total)
}

/// `EMFILE` or `ENFILE`: no descriptor left for a pipe.
fn out_of_descriptors(e: &io::Error) -> bool {
    use rustix::io::Errno;
    let n = e.raw_os_error();
    n == Some(Errno::MFILE.raw_os_error()) || n == Some(Errno::NFILE.raw_os_error())
}

/// Pushes chunks into a private pipe for [`to_any`].
struct Feeder<'a> {
    w: VmspliceWriter<BorrowedFd<'a>>,
    maker: Maker,
    how: How,
    pages: PageSize,
    chunk: usize,
    spin: bool,
}

impl<'a> Feeder<'a> {
    fn new(w: BorrowedFd<'a>, content: &Content, how: How, t: Tuning) -> io::Result<Self> {
        let how = match (how, content) {
            (How::Shared, Content::Random(_)) => How::Recycle,
            (h, _) => h,
        };
        let release = if how == How::Gift {
            Release::Gift
        } else {
            Release::Recycle
        };
        Ok(Feeder {
            w: VmspliceWriter::new(w).map_err(os)?.release(release),
            maker: Maker::new(content, t.chunk.max(2 << 20), t.pages)?,
            how,
            pages: t.pages,
            chunk: t.chunk,
            spin: t.spin,
        })
    }

    /// Queues the next bytes, at most `max`: one chunk ([`Tuning::chunk`]) of the shared
    /// tile, or one whole page buffer (1 MiB or 2 MiB) in the gift and recycle modes, so no
    /// huge page is renewed for a fraction of its bytes. Returns the bytes queued.
    fn push(&mut self, max: u64) -> io::Result<u64> {
        if self.how == How::Shared {
            let n = max.min(self.chunk as u64) as usize;
            let tile = self
                .maker
                .tile
                .clone()
                .expect("repeated content has a tile");
            let r = self.maker.window(n);
            if !self.spin {
                self.w.send_frozen(&tile, r).map_err(os)?;
                return Ok(n as u64);
            }
            // Busy-wait a little on a full pipe (a reader that keeps up frees room within
            // microseconds, sooner than a sleep and wake-up), then block: a slow reader never
            // makes the generator burn a core.
            let mut waited: Option<std::time::Instant> = None;
            loop {
                match self.w.try_send_frozen(&tile, r.clone()) {
                    Ok(()) => return Ok(n as u64),
                    Err(e) if e.io_error().kind() == io::ErrorKind::WouldBlock => {
                        let t0 = *waited.get_or_insert_with(std::time::Instant::now);
                        if t0.elapsed() > SPIN_LIMIT {
                            self.w.send_frozen(&tile, r).map_err(os)?;
                            return Ok(n as u64);
                        }
                        std::hint::spin_loop()
                    }
                    Err(e) => return Err(os(e)),
                }
            }
        }
        let mut page = self.w.page(self.pages)?;
        let n = max.min(page.capacity() as u64) as usize;
        page.truncate(n);
        self.maker.fill(&mut page);
        self.w.send(page).map_err(os)?;
        Ok(n as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_content_continues_across_chunks() {
        let c = Content::Repeat(b"abc\n".to_vec());
        let mut m = Maker::new(&c, 4096, PageSize::Base).unwrap();
        let mut got = Vec::new();
        for n in [3, 5, 4096, 1, 7] {
            let mut b = vec![0; n];
            m.fill(&mut b);
            got.extend(b);
        }
        let want: Vec<u8> = b"abc\n".iter().cycle().take(got.len()).copied().collect();
        assert_eq!(got, want);
    }

    #[test]
    fn random_stream_does_not_depend_on_chunking() {
        let c = Content::Random(7);
        let mut a = Maker::new(&c, 4096, PageSize::Base).unwrap();
        let mut whole = vec![0; 64];
        a.fill(&mut whole);
        let mut b = Maker::new(&c, 4096, PageSize::Base).unwrap();
        let (mut x, mut y) = (vec![0; 24], vec![0; 40]);
        b.fill(&mut x);
        b.fill(&mut y);
        assert_eq!([x, y].concat(), whole);
        assert_ne!(whole[..8], whole[8..16]);
    }
}
