//! File names in messages, quoted as GNU's `quotef` quotes them (gnulib quotearg's
//! shell-escape style, with `:` quoted too): a name a shell would read as it is stays bare;
//! others are single-quoted; control characters and bytes that are not text in the locale
//! appear as `$'\t'`/`$'\033'` escapes, so no raw control byte from a name reaches a terminal.
//! The rules were read off GNU coreutils 9.1's output for each character class; the code is
//! written here.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// Characters that make a shell word need quotes anywhere in it.
const SPECIAL: &[u8] = b" \t\n!\"$&'()*;<=>?[\\^`|:";

/// Quotes `name` for a message, as GNU tools do (`cat: 'my file': No such file or directory`).
pub fn quote(name: &OsStr) -> String {
    quote_with(name, utf8_locale())
}

/// [`quote`] for a UTF-8 locale (`utf8`) or another one.
fn quote_with(name: &OsStr, utf8: bool) -> String {
    let b = name.as_bytes();
    let chars = split(b, utf8);
    let needs = b.is_empty()
        || matches!(b[0], b'~' | b'#')
        || chars.iter().any(|c| match c {
            Piece::Text(s) => s.len() == 1 && SPECIAL.contains(&s.as_bytes()[0]),
            Piece::Escape(_) => true,
        });
    if !needs {
        return String::from_utf8_lossy(b).into_owned();
    }
    let has_quote = b.contains(&b'\'');
    let double_ok = chars.iter().all(|c| match c {
        Piece::Text(s) => !matches!(s.as_str(), "\"" | "$" | "`" | "\\" | "!"),
        Piece::Escape(_) => false,
    });
    if has_quote && double_ok {
        let inner: String = chars
            .iter()
            .map(|c| match c {
                Piece::Text(s) => s.as_str(),
                Piece::Escape(_) => unreachable!("double quotes only without escapes"),
            })
            .collect();
        return format!("\"{inner}\"");
    }
    single(&chars)
}

/// The single-quoted form: `'…'`, with `'\''` for a quote and `'$'\…''` for escapes.
fn single(chars: &[Piece]) -> String {
    let mut out = String::from("'");
    let mut open = true; // inside '…'
    let mut i = 0;
    while i < chars.len() {
        match &chars[i] {
            Piece::Text(s) if s == "'" => {
                out.push_str(if open { "'\\''" } else { "\\''" });
                open = true;
            }
            Piece::Text(s) => {
                if !open {
                    out.push('\'');
                    open = true;
                }
                out.push_str(s);
            }
            Piece::Escape(_) => {
                if open {
                    out.push('\'');
                }
                out.push_str("$'");
                while let Some(Piece::Escape(byte)) = chars.get(i) {
                    out.push_str(&escape(*byte));
                    i += 1;
                }
                out.push('\'');
                open = false;
                continue;
            }
        }
        i += 1;
    }
    if open {
        out.push('\'');
    }
    out
}

enum Piece {
    /// One printable character.
    Text(String),
    /// One byte shown as an escape.
    Escape(u8),
}

/// Splits a name into printable characters and bytes to escape: ASCII controls, DEL, and —
/// outside a UTF-8 locale, or where the bytes are not valid UTF-8 — every byte from 0x80.
fn split(mut b: &[u8], utf8: bool) -> Vec<Piece> {
    let mut v = Vec::new();
    while let Some(&c) = b.first() {
        if c < 0x80 {
            v.push(if c < 0x20 || c == 0x7f {
                Piece::Escape(c)
            } else {
                Piece::Text((c as char).to_string())
            });
            b = &b[1..];
            continue;
        }
        let len = match c {
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => 0,
        };
        let ch = (utf8 && len > 0 && b.len() >= len)
            .then(|| std::str::from_utf8(&b[..len]).ok())
            .flatten()
            .and_then(|s| s.chars().next())
            .filter(|ch| !('\u{80}'..='\u{9f}').contains(ch));
        match ch {
            Some(ch) => {
                v.push(Piece::Text(ch.to_string()));
                b = &b[len..];
            }
            None => {
                v.push(Piece::Escape(c));
                b = &b[1..];
            }
        }
    }
    v
}

fn escape(c: u8) -> String {
    match c {
        0x07 => "\\a".into(),
        0x08 => "\\b".into(),
        0x09 => "\\t".into(),
        0x0a => "\\n".into(),
        0x0b => "\\v".into(),
        0x0c => "\\f".into(),
        0x0d => "\\r".into(),
        _ => format!("\\{c:03o}"),
    }
}

/// Whether the character type locale is UTF-8 (`LC_ALL`, then `LC_CTYPE`, then `LANG`).
pub fn utf8_locale() -> bool {
    let v = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_default()
        .to_ascii_lowercase();
    v.contains("utf-8") || v.contains("utf8")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(b: &[u8]) -> String {
        quote_with(OsStr::from_bytes(b), true)
    }

    /// What GNU cat 9.1 printed for each name (C.UTF-8 locale), checked by hand.
    #[test]
    fn names_are_quoted_as_gnu_quotef_does() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "''"),
            (b"plain", "plain"),
            (b"/etc/x-y_z.1", "/etc/x-y_z.1"),
            (b"a:b", "'a:b'"),
            (b"~x", "'~x'"),
            (b"x~", "x~"),
            (b"#x", "'#x'"),
            (b"x#", "x#"),
            (b"a b", "'a b'"),
            (b"it's", "\"it's\""),
            (b"'", "\"'\""),
            (b"a'b'c", "\"a'b'c\""),
            (b"say \"hi\"", "'say \"hi\"'"),
            (b"it's \"q\"", "'it'\\''s \"q\"'"),
            (b"it's!", "'it'\\''s!'"),
            (b"it's$", "'it'\\''s$'"),
            (b"a$b", "'a$b'"),
            (b"a=b", "'a=b'"),
            (b"a^b", "'a^b'"),
            (b"a{b", "a{b"),
            (b"a]b", "a]b"),
            (b"a%b,c+d@e", "a%b,c+d@e"),
            (b"tab\there", "'tab'$'\\t''here'"),
            (b"nl\nx", "'nl'$'\\n''x'"),
            (b"x\t", "'x'$'\\t'"),
            (b"\x7f", "''$'\\177'"),
            (b"\x07", "''$'\\a'"),
            (b"a\x01\x02b", "'a'$'\\001\\002''b'"),
            (b"bad\x1b[31mname", "'bad'$'\\033''[31mname'"),
            (b"it's\ttab", "'it'\\''s'$'\\t''tab'"),
            (b"caf\xc3\xa9", "café"),
            (b"\xff", "''$'\\377'"),
        ];
        for (name, want) in cases {
            assert_eq!(q(name), *want, "{:?}", String::from_utf8_lossy(name));
        }
        let c_locale = quote_with(OsStr::from_bytes(b"caf\xc3\xa9"), false);
        assert_eq!(c_locale, "'caf'$'\\303\\251'");
    }
}
