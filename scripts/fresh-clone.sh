#!/usr/bin/env bash
# What a new user does with a fresh clone, run by .ci/run on its clean clone: the README's
# first command (the main job: `splice bench` on data it generates), then the install the
# README shows — `cargo install`, `splice --install DIR`, a link used as its tool, a manual
# page, completions sourced in bash — each checked. The README's second command (the tests)
# is the one .ci/run itself runs; this script checks that it is.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The two commands of the README's first code block.
mapfile -t cmds < <(sed -n '/^```sh$/,/^```$/p' README.md | sed -n '2,3p')
[ "${#cmds[@]}" = 2 ] || { echo "fresh-clone: the README does not open with two commands" >&2; exit 1; }
grep -qF -- "${cmds[1]}" .ci/run || { echo "fresh-clone: .ci/run does not run '${cmds[1]}'" >&2; exit 1; }

echo "fresh-clone: ${cmds[0]}"
bash -c "${cmds[0]}" > "$tmp/bench.txt"
grep -q "file-pipe" "$tmp/bench.txt" || { cat "$tmp/bench.txt"; echo "fresh-clone: no bench table" >&2; exit 1; }

# Install as the README says (reusing the release build the bench just made).
cargo install --locked --quiet --path crates/splice-cli --root "$tmp/root" --target-dir target
splice=$tmp/root/bin/splice
size=$(stat -c %s "$splice")
echo "fresh-clone: installed binary: $size bytes"
[ "$size" -lt $((5 << 20)) ] || { echo "fresh-clone: the installed binary is $size bytes" >&2; exit 1; }
mkdir "$tmp/links"
"$splice" --install "$tmp/links"
[ "$("$tmp/links/yes" | head -3)" = $'y\ny\ny' ] || { echo "fresh-clone: yes link" >&2; exit 1; }
[ "$(printf 'a\nb\n' | "$tmp/links/cat" -n)" = $'     1\ta\n     2\tb' ] || { echo "fresh-clone: cat link" >&2; exit 1; }
"$splice" man cat | head | grep -q '^\.TH cat 1' || { echo "fresh-clone: splice man cat" >&2; exit 1; }
bash -c "source <('$splice' completions bash) && complete -p splice >/dev/null" \
  || { echo "fresh-clone: bash completions" >&2; exit 1; }
echo "fresh-clone: ok"
