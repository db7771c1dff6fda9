//! The user-space path of `cat` for its formatting options (-b -E -n -s -T -v), with GNU
//! cat's rules; the line state carries from one input to the next, as in GNU cat.

use std::io;
use std::os::fd::BorrowedFd;

use splicekit::{is_ready, sys, wait_ready, Ready, Side};

const BUF: usize = 128 * 1024;

/// Which formatting options are on.
#[derive(Debug, Default, Clone, Copy)]
pub struct Format {
    pub number: bool,
    pub number_nonblank: bool,
    pub ends: bool,
    pub squeeze: bool,
    pub tabs: bool,
    pub nonprinting: bool,
}

impl Format {
    /// Whether any option needs the formatting path.
    pub fn any(&self) -> bool {
        self.number
            || self.number_nonblank
            || self.ends
            || self.squeeze
            || self.tabs
            || self.nonprinting
    }
}

/// Formats inputs one after another into a buffer flushed to the output.
pub struct Formatter {
    fmt: Format,
    line: u64,
    at_start: bool,
    empty_run: u32,
    /// A CR seen under -E, held until the next byte says whether it ends a line (`^M$`).
    pending_cr: bool,
    out: Vec<u8>,
}

impl Formatter {
    pub fn new(fmt: Format) -> Self {
        Formatter {
            fmt,
            line: 0,
            at_start: true,
            empty_run: 0,
            pending_cr: false,
            out: Vec::with_capacity(BUF * 2),
        }
    }

    /// Formats everything from `input` into `out`.
    pub fn run(
        &mut self,
        input: BorrowedFd<'_>,
        out: BorrowedFd<'_>,
        tick: &dyn Fn(u64),
    ) -> Result<(), (Side, io::Error)> {
        let mut buf = vec![0u8; BUF];
        loop {
            if !self.out.is_empty() && !is_ready(input, Ready::Read) {
                // The next read would wait (a pause in a pipe or terminal): show what is
                // formatted so far first, as GNU cat does; input that keeps coming is still
                // written in large blocks.
                self.flush(out).map_err(|e| (Side::Output, e))?;
            }
            let n = match sys::read(input, &mut buf, None) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    wait_ready(input, Ready::Read).map_err(|e| (Side::Input, e))?;
                    continue;
                }
                Err(e) => return Err((Side::Input, e)),
            };
            tick(n as u64);
            self.feed(&buf[..n]);
            if self.out.len() >= BUF {
                self.flush(out).map_err(|e| (Side::Output, e))?;
            }
        }
    }

    /// Formats `bytes` into the output buffer.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &c in bytes {
            if c == b'\n' {
                if std::mem::take(&mut self.pending_cr) {
                    self.out.extend_from_slice(b"^M");
                }
                if self.at_start {
                    self.empty_run += 1;
                    if self.fmt.squeeze && self.empty_run > 1 {
                        continue;
                    }
                    if self.fmt.number && !self.fmt.number_nonblank {
                        self.number();
                    }
                }
                if self.fmt.ends {
                    self.out.push(b'$');
                }
                self.out.push(b'\n');
                self.at_start = true;
                continue;
            }
            if std::mem::take(&mut self.pending_cr) {
                self.byte(b'\r');
            }
            if self.at_start {
                self.empty_run = 0;
                if self.fmt.number || self.fmt.number_nonblank {
                    self.number();
                }
                self.at_start = false;
            }
            if c == b'\r' && self.fmt.ends {
                self.pending_cr = true; // GNU cat 9.1 shows CR LF as ^M$ under -E
                continue;
            }
            self.byte(c);
        }
    }

    fn number(&mut self) {
        self.line += 1;
        self.out
            .extend_from_slice(format!("{:>6}\t", self.line).as_bytes());
    }

    fn byte(&mut self, c: u8) {
        let o = &mut self.out;
        if c == b'\t' {
            if self.fmt.tabs {
                o.extend_from_slice(b"^I");
            } else {
                o.push(c);
            }
        } else if !self.fmt.nonprinting {
            o.push(c);
        } else if c >= 128 {
            o.extend_from_slice(b"M-");
            match c - 128 {
                d @ 32..=126 => o.push(d),
                127 => o.extend_from_slice(b"^?"),
                d => o.extend_from_slice(&[b'^', d + 64]),
            }
        } else if c == 127 {
            o.extend_from_slice(b"^?");
        } else if c < 32 {
            o.extend_from_slice(&[b'^', c + 64]);
        } else {
            o.push(c);
        }
    }

    /// Ends the output: a CR still held is written as itself.
    pub fn finish(&mut self, out: BorrowedFd<'_>) -> io::Result<()> {
        if std::mem::take(&mut self.pending_cr) {
            self.byte(b'\r');
        }
        self.flush(out)
    }

    /// Writes out everything buffered.
    pub fn flush(&mut self, out: BorrowedFd<'_>) -> io::Result<()> {
        let mut done = 0;
        while done < self.out.len() {
            match sys::write(out, &self.out[done..], None) {
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_ready(out, Ready::Write)?,
                Err(e) => {
                    self.out.drain(..done);
                    return Err(e);
                }
            }
        }
        self.out.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(f: Format, inputs: &[&[u8]]) -> String {
        let mut x = Formatter::new(f);
        for i in inputs {
            x.feed(i);
        }
        String::from_utf8_lossy(&x.out).into_owned()
    }

    #[test]
    fn numbering_carries_across_inputs() {
        let f = Format {
            number: true,
            ..Default::default()
        };
        assert_eq!(
            fmt(f, &[b"a\nb", b"c\n\n"]),
            "     1\ta\n     2\tbc\n     3\t\n"
        );
        let b = Format {
            number_nonblank: true,
            number: true,
            ..Default::default()
        };
        assert_eq!(fmt(b, &[b"a\n\nb\n"]), "     1\ta\n\n     2\tb\n");
    }

    #[test]
    fn squeeze_ends_tabs_and_nonprinting() {
        let s = Format {
            squeeze: true,
            ends: true,
            ..Default::default()
        };
        assert_eq!(fmt(s, &[b"\n\n\na\n\n", b"\n\nb"]), "$\na$\n$\nb");
        let v = Format {
            nonprinting: true,
            tabs: true,
            ..Default::default()
        };
        assert_eq!(
            fmt(v, &[&[0, 9, 31, 127, 128, 160, 200, 255, b'x']]),
            "^@^I^_^?M-^@M- M-HM-^?x"
        );
    }
}
