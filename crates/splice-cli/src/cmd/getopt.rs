//! GNU-style option parsing for the drop-in tools, with GNU getopt's messages: short options
//! may be grouped (`-vET`), long options may be abbreviated while unambiguous, options and
//! operands may be mixed, `--` ends options and `-` alone is an operand.

use std::ffi::OsString;

/// One option a tool accepts.
pub struct Spec {
    /// The short letter, if any.
    pub short: Option<char>,
    /// The long name without dashes, if any.
    pub long: Option<&'static str>,
    /// Whether it takes an argument: `Some(true)` required, `Some(false)` optional (long
    /// `--name=value` only), `None` none.
    pub arg: Option<bool>,
    /// A key the tool matches on.
    pub key: &'static str,
}

/// A parsed option occurrence.
#[derive(Debug, PartialEq, Eq)]
pub struct Found {
    pub key: &'static str,
    pub value: Option<String>,
}

/// Parses `args` against `specs`. On error returns the message GNU getopt prints (without
/// the `tool: ` prefix).
pub fn parse(specs: &[Spec], args: &[OsString]) -> Result<(Vec<Found>, Vec<OsString>), String> {
    let mut found = Vec::new();
    let mut operands = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].to_string_lossy().into_owned();
        i += 1;
        if a == "--" {
            operands.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(body) = a.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let spec = long_match(specs, name, &a)?;
            let long = spec.long.unwrap_or_default();
            let value = match (spec.arg, inline) {
                (None, Some(_)) => {
                    return Err(format!("option '--{long}' doesn't allow an argument"))
                }
                (None, None) => None,
                (Some(false), v) => v,
                (Some(true), Some(v)) => Some(v),
                (Some(true), None) => match args.get(i) {
                    Some(v) => {
                        i += 1;
                        Some(v.to_string_lossy().into_owned())
                    }
                    None => return Err(format!("option '--{long}' requires an argument")),
                },
            };
            found.push(Found {
                key: spec.key,
                value,
            });
        } else if a.len() > 1 && a.starts_with('-') {
            let chars: Vec<char> = a[1..].chars().collect();
            let mut j = 0;
            while j < chars.len() {
                let c = chars[j];
                j += 1;
                let spec = specs
                    .iter()
                    .find(|s| s.short == Some(c))
                    .ok_or_else(|| format!("invalid option -- '{c}'"))?;
                let value = if spec.arg == Some(true) {
                    let rest: String = chars[j..].iter().collect();
                    j = chars.len();
                    if !rest.is_empty() {
                        Some(rest)
                    } else if let Some(v) = args.get(i) {
                        i += 1;
                        Some(v.to_string_lossy().into_owned())
                    } else {
                        return Err(format!("option requires an argument -- '{c}'"));
                    }
                } else {
                    None
                };
                found.push(Found {
                    key: spec.key,
                    value,
                });
            }
        } else {
            operands.push(args[i - 1].clone());
        }
    }
    Ok((found, operands))
}

fn long_match<'a>(specs: &'a [Spec], name: &str, whole: &str) -> Result<&'a Spec, String> {
    if let Some(s) = specs.iter().find(|s| s.long == Some(name)) {
        return Ok(s);
    }
    let hits: Vec<&Spec> = specs
        .iter()
        .filter(|s| !name.is_empty() && s.long.is_some_and(|l| l.starts_with(name)))
        .collect();
    // As getopt_long: a later match that stands for the same option as the first
    // (`--sparse`, `--sparse-output`) is no ambiguity, and is not listed among the
    // possibilities; the others are, in the table's order.
    let same = |a: &Spec, b: &Spec| a.key == b.key && a.arg == b.arg;
    let hits: Vec<&Spec> = match hits.split_first() {
        Some((first, rest)) => std::iter::once(*first)
            .chain(rest.iter().copied().filter(|o| !same(first, o)))
            .collect(),
        None => hits,
    };
    match hits.len() {
        1 => Ok(hits[0]),
        0 => Err(format!("unrecognized option '{whole}'")),
        _ => {
            let list: Vec<String> = hits
                .iter()
                .map(|s| format!("'--{}'", s.long.unwrap_or_default()))
                .collect();
            Err(format!(
                "option '{whole}' is ambiguous; possibilities: {}",
                list.join(" ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: [Spec; 4] = [
        Spec {
            short: Some('n'),
            long: Some("number"),
            arg: None,
            key: "n",
        },
        Spec {
            short: Some('b'),
            long: Some("number-nonblank"),
            arg: None,
            key: "b",
        },
        Spec {
            short: Some('s'),
            long: Some("size"),
            arg: Some(true),
            key: "s",
        },
        Spec {
            short: None,
            long: Some("output-error"),
            arg: Some(false),
            key: "oe",
        },
    ];

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    fn keys(v: &[&str]) -> Result<(Vec<&'static str>, Vec<String>), String> {
        let (f, o) = parse(&SPECS, &os(v))?;
        Ok((
            f.iter().map(|f| f.key).collect(),
            o.iter().map(|o| o.to_string_lossy().into_owned()).collect(),
        ))
    }

    #[test]
    fn grouping_permutation_and_double_dash() {
        assert_eq!(
            keys(&["-nb", "f", "-", "-n", "--", "-b"]),
            Ok((
                vec!["n", "b", "n"],
                vec!["f".into(), "-".into(), "-b".into()]
            ))
        );
    }

    #[test]
    fn two_names_for_one_option_are_no_ambiguity() {
        const TWO: [Spec; 3] = [
            Spec {
                short: Some('O'),
                long: Some("sparse"),
                arg: None,
                key: "O",
            },
            Spec {
                short: None,
                long: Some("sparse-output"),
                arg: None,
                key: "O",
            },
            Spec {
                short: Some('S'),
                long: Some("spot"),
                arg: None,
                key: "S",
            },
        ];
        let k = |a: &str| parse(&TWO, &os(&[a])).map(|(f, _)| f[0].key);
        assert_eq!(k("--spars"), Ok("O"));
        assert_eq!(k("--sparse-"), Ok("O"));
        // getopt_long lists the first match and those unlike it: not the second name.
        assert_eq!(
            k("--sp"),
            Err("option '--sp' is ambiguous; possibilities: '--sparse' '--spot'".into())
        );
    }

    #[test]
    fn abbreviations_and_exact_matches() {
        assert_eq!(keys(&["--number"]).unwrap().0, ["n"]);
        assert_eq!(keys(&["--number-n"]).unwrap().0, ["b"]);
        let e = keys(&["--numb"]).unwrap_err();
        assert_eq!(
            e,
            "option '--numb' is ambiguous; possibilities: '--number' '--number-nonblank'"
        );
    }

    #[test]
    fn arguments() {
        let (f, _) = parse(
            &SPECS,
            &os(&[
                "-s10",
                "-s",
                "20",
                "--size=30",
                "--size",
                "40",
                "--output-error",
                "--output-error=warn",
            ]),
        )
        .unwrap();
        let v: Vec<Option<&str>> = f.iter().map(|f| f.value.as_deref()).collect();
        assert_eq!(
            v,
            [
                Some("10"),
                Some("20"),
                Some("30"),
                Some("40"),
                None,
                Some("warn")
            ]
        );
        assert_eq!(
            keys(&["-s"]).unwrap_err(),
            "option requires an argument -- 's'"
        );
        assert_eq!(
            keys(&["--size"]).unwrap_err(),
            "option '--size' requires an argument"
        );
        assert_eq!(
            keys(&["--number=3"]).unwrap_err(),
            "option '--number' doesn't allow an argument"
        );
    }

    #[test]
    fn unknown_options() {
        assert_eq!(keys(&["-z"]).unwrap_err(), "invalid option -- 'z'");
        assert_eq!(
            keys(&["--zap=1"]).unwrap_err(),
            "unrecognized option '--zap=1'"
        );
    }
}
