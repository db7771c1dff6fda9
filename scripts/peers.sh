#!/usr/bin/env bash
# Compares `splice cat` with its peers on one machine in one run: file in tmpfs -> pipe ->
# a splicing reader (`splice cat > /dev/null`, the same reader for every command), and the same
# into a copying reader (GNU `cat > /dev/null`, read/write). Installs its peers with apt-get.
# Then `splice gen` against `yes` (GNU and uutils): GEN_GIB of output into a reader that splices
# it to /dev/null and stops at exactly that count.
# Then tee, meters, and relays: `splice relay` against socat (default and -b 131072), HAProxy
# (in `splice bench`'s relay cases: splice both ways with 1 MiB pipes, and nosplice) and the
# same binary's tokio::io::copy_bidirectional strategy, client -> relay -> sink on 127.0.0.1.
# Then the cost per input (ONLY=small): 10,000 files of 1 KiB into a pipe and into /dev/null,
# system calls per operand, start-up on a 100-byte file, tee into one pipe, and one big file,
# each against 15-line C loops built here with cc, and against uutils 0.12 and GNU cat HEAD
# when they are (or can be) built into the cache ~/.cache/splice-peers: uutils by
# `cargo install` (PEERS_UUTILS=0 skips it), GNU coreutils 9.10 (the newest release) from
# Debian's pool (PEERS_GNU_NEW=0 skips it), GNU HEAD from git only with PEERS_GNU_HEAD=1.
# Usage: scripts/peers.sh [SIZE_MIB] [GEN_GIB] (defaults 1024, 8); ONLY=relay (or cat, gen,
# tee, pv, small, conns) runs one section. Not part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1024}
gen_gib=${2:-8}
need=()
for p in pv hyperfine socat haproxy; do command -v "$p" >/dev/null || need+=("$p"); done
uucat=/usr/lib/cargo/bin/coreutils/cat   # Debian's rust-coreutils (uutils)
[ -x "$uucat" ] || need+=(rust-coreutils)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release -q -p splice-cli
S=$PWD/target/x86_64-unknown-linux-gnu/release/splice
data=$(mktemp -p /dev/shm splice-peers.XXXXXX)
table=$(mktemp)
counter=$(mktemp --suffix=.py)
trap 'rm -f "$data" "$table" "$counter"; kill $(jobs -p) 2>/dev/null || true' EXIT
only=${ONLY:-}
run() { [ -z "$only" ] || [ "$only" = "$1" ]; }
# A splicing reader that stops after exactly N bytes (yes never ends by itself).
cat > "$counter" <<'PY'
import os, sys
n, got = int(sys.argv[1]), 0
null = os.open("/dev/null", os.O_WRONLY)
while got < n:
    k = os.splice(0, null, min(1 << 20, n - got))
    if k == 0:
        sys.exit("reader: input ended after %d of %d bytes" % (got, n))
    got += k
PY
head -c "$((size << 20))" /dev/urandom > "$data"
echo "peers: ${size} MiB in tmpfs; GNU $(cat --version | head -1); pv $(pv --version | head -1 | awk '{print $2}'); uutils $($uucat --version 2>/dev/null | head -1)"
r="$S cat > /dev/null"
run cat && for reader in "$S cat > /dev/null" "cat > /dev/null"; do
  echo
  echo "== into a $( [[ $reader == "$S"* ]] && echo splicing || echo copying ) reader: $reader"
  p="set -o pipefail;"   # a failing command fails the run instead of timing an error
  hyperfine -N --warmup 2 --runs 7 --export-markdown "$table" \
    -n "splice cat" "bash -c '$p $S cat $data | $reader'" \
    -n "GNU cat" "bash -c '$p cat $data | $reader'" \
    -n "uutils cat" "bash -c '$p $uucat $data | $reader'" \
    -n "pv -q" "bash -c '$p pv -q $data | $reader'" \
    -n "pv -q -C" "bash -c '$p pv -q -C $data | $reader'" \
    -n "dd bs=1M" "bash -c '$p dd if=$data bs=1M status=none | $reader'" >/dev/null
  cat "$table"
done

run gen && {
echo
echo "== generators: ${gen_gib} GiB of 'y' lines into a splicing reader"
n=$((gen_gib << 30))
uuyes=/usr/lib/cargo/bin/coreutils/yes
hyperfine -N --warmup 1 --runs 5 --export-markdown "$table" \
  -n "splice gen" "bash -c '$S gen | python3 $counter $n'" \
  -n "splice gen --no-spin" "bash -c '$S gen --no-spin | python3 $counter $n'" \
  -n "GNU yes" "bash -c 'yes | python3 $counter $n'" \
  -n "uutils yes" "bash -c '$uuyes | python3 $counter $n'" >/dev/null
cat "$table"
}

run tee && {
echo
echo "== tee: ${size} MiB from tmpfs into stdout + 3 pipes, each drained by a splicing reader"
uutee=/usr/lib/cargo/bin/coreutils/tee
outs=">($r) >($r) >($r)"
hyperfine -N --warmup 1 --runs 5 --export-markdown "$table" \
  -n "splice tee" "bash -c '$S cat $data | $S tee $outs | $r'" \
  -n "GNU tee" "bash -c '$S cat $data | tee $outs | $r'" \
  -n "uutils tee" "bash -c '$S cat $data | $uutee $outs | $r'" >/dev/null
cat "$table"
}

run pv && {
echo
echo "== meters: ${size} MiB from tmpfs, splice cat FILE | METER | splicing reader"
hyperfine -N --warmup 1 --runs 7 --export-markdown "$table" \
  -n "splice pv" "bash -c '$S cat $data | $S pv -q | $r'" \
  -n "pv (splice)" "bash -c '$S cat $data | pv -q | $r'" \
  -n "pv -C" "bash -c '$S cat $data | pv -q -C | $r'" \
  -n "splice pv (display on)" "bash -c '$S cat $data | $S pv -f 2>/dev/null | $r'" \
  -n "pv (display on)" "bash -c '$S cat $data | pv -f 2>/dev/null | $r'" >/dev/null
cat "$table"
}

run relay && {
echo
echo "== relays: ${size} MiB from tmpfs, splice cat FILE > /dev/tcp/RELAY (sendfile) -> relay -> sink"
# Ports below the ephemeral range (32768+), so no client socket holds them. The sink splices
# every connection to /dev/null, the same for every relay. hyperfine times the sender, which
# ends when the relay has taken its last byte. Then `splice bench`'s relay cases, which now
# include socat: there the clock stops when the sink has every byte, and CPU is the relay's.
sink=$(mktemp --suffix=.py)
cat > "$sink" <<'PY'
import fcntl, os, socket, sys, threading
l = socket.create_server(("127.0.0.1", int(sys.argv[1])), backlog=128)
null = os.open("/dev/null", os.O_WRONLY)
def drain(c):
    r, w = os.pipe()
    fcntl.fcntl(w, 1031, 1 << 20)  # F_SETPIPE_SZ: 1 MiB, as the relays' own pipes
    while (n := os.splice(c.fileno(), w, 1 << 20)) > 0:
        while n > 0:
            n -= os.splice(r, null, n)
    c.close(); os.close(r); os.close(w)
while True:
    c, _ = l.accept()
    threading.Thread(target=drain, args=(c,), daemon=True).start()
PY
python3 "$sink" 27100 & sleep 0.5
$S relay 127.0.0.1:27101 127.0.0.1:27100 &
$S relay --strategy copy 127.0.0.1:27102 127.0.0.1:27100 &
socat TCP-LISTEN:27103,reuseaddr,fork TCP:127.0.0.1:27100 &
socat -b 131072 TCP-LISTEN:27104,reuseaddr,fork TCP:127.0.0.1:27100 &
sleep 0.5
send() { echo "bash -c '$S cat $data > /dev/tcp/127.0.0.1/$1'"; }
hyperfine -N --warmup 1 --runs 7 --export-markdown "$table" \
  -n "splice relay" "$(send 27101)" \
  -n "splice relay --strategy copy (tokio copy_bidirectional)" "$(send 27102)" \
  -n "socat (default 8 KiB)" "$(send 27103)" \
  -n "socat -b 131072" "$(send 27104)" \
  -n "no relay" "$(send 27100)" >/dev/null
cat "$table"
rm -f "$sink"
$S bench --case relay-1 --case relay-64 --runs 5
}

run small && {
cache=${XDG_CACHE_HOME:-$HOME/.cache}/splice-peers
mkdir -p "$cache"
# The C loops: file -> private 1 MiB pipe -> stdout (GNU HEAD's and the engine's two hops), and
# one pipe into another with plain blocking splices (what tee to one output must match).
cat > "$cache/twohop.c" <<'C'
#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int in = open(argv[1], O_RDONLY), p[2];
    if (in < 0 || pipe(p)) return 1;
    fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
    for (;;) {
        ssize_t n = splice(in, 0, p[1], 0, 1 << 20, SPLICE_F_MORE);
        if (n <= 0) return n < 0;
        while (n > 0) { ssize_t k = splice(p[0], 0, 1, 0, n, SPLICE_F_MORE); if (k <= 0) return 1; n -= k; }
    }
}
C
cat > "$cache/pipeloop.c" <<'C'
#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>
int main(void) {
    for (;;) {
        ssize_t n = splice(0, 0, 1, 0, 1 << 20, 0);
        if (n <= 0) return n < 0;
    }
}
C
cc -O2 -o "$cache/twohop" "$cache/twohop.c" && cc -O2 -o "$cache/pipeloop" "$cache/pipeloop.c"
uu=$cache/uutils-0.12/bin
if [ ! -x "$uu/cat" ] && [ "${PEERS_UUTILS:-1}" = 1 ]; then
  cargo install -q --root "$cache/uutils-0.12" uu_cat@0.12.0 uu_tee@0.12.0 uu_yes@0.12.0 \
    || echo "uutils 0.12 could not be built; left out"
fi
gnuhead=$cache/coreutils-head/src/cat
if [ ! -x "$gnuhead" ] && [ "${PEERS_GNU_HEAD:-0}" = 1 ]; then
  ( cd "$cache" && rm -rf coreutils-head && git clone -q --depth 1 https://git.savannah.gnu.org/git/coreutils.git coreutils-head \
    && cd coreutils-head && ./bootstrap --skip-po >/dev/null && ./configure -q >/dev/null && make -s src/cat ) \
    || echo "GNU cat HEAD could not be built; left out"
fi
# GNU coreutils 9.10, the newest release (2026-02-04), from Debian's pool (reachable where
# savannah is not); its release tarball needs no bootstrap. PEERS_GNU_NEW=0 skips it.
gnunew=$cache/coreutils-9.10/src/cat
if [ ! -x "$gnunew" ] && [ "${PEERS_GNU_NEW:-1}" = 1 ]; then
  ( cd "$cache" && rm -rf coreutils-9.10 \
    && curl -fsS -o coreutils-9.10.tar.xz \
      http://deb.debian.org/debian/pool/main/c/coreutils/coreutils_9.10.orig.tar.xz \
    && echo "b0482ebec42fd48e95cb9187d566b9e4  coreutils-9.10.tar.xz" | md5sum -c --quiet \
    && tar xf coreutils-9.10.tar.xz && cd coreutils-9.10 \
    && FORCE_UNSAFE_CONFIGURE=1 ./configure -q --disable-nls >/dev/null 2>&1 \
    && bs=$(printf 'bs:\n\t@echo $(BUILT_SOURCES)\n' | make -s -f Makefile -f - bs) \
    && make -s -j2 $bs >/dev/null 2>&1 && make -s -j2 src/cat src/tee src/yes >/dev/null 2>&1 ) \
    || echo "GNU coreutils 9.10 could not be built; left out"
fi
peer() { [ -x "$2" ] && printf -- '-n\0%s\0%s\0' "$1" "$3"; }
# The optional cats as hyperfine arguments in `extra`, each running "CAT ARGS" (a template).
optional_cats() {
  extra=()
  local x
  while IFS= read -r -d '' x; do extra+=("$x"); done < <(
    peer "uutils cat 0.12" "$uu/cat" "bash -c '${1//CAT/$uu/cat}'"
    peer "GNU cat 9.10" "$gnunew" "bash -c '${1//CAT/$gnunew}'"
    peer "GNU cat HEAD" "$gnuhead" "bash -c '${1//CAT/$gnuhead}'")
}
small=$(mktemp -d -p /dev/shm splice-peers-small.XXXXXX)
trap 'rm -rf "$small" "$data" "$table" "$counter"; kill $(jobs -p) 2>/dev/null || true' EXIT
for i in $(seq -w 1 10000); do head -c 1024 "$data" > "$small/f$i"; done
for into in "| $r" "> /dev/null"; do
  echo
  echo "== 10,000 files of 1 KiB $into"
  optional_cats "cd $small && CAT f* $into"
  hyperfine -N --warmup 2 --runs 11 --export-markdown "$table" \
    -n "splice cat" "bash -c 'cd $small && $S cat f* $into'" \
    -n "GNU cat 9.1" "bash -c 'cd $small && cat f* $into'" \
    -n "uutils cat (Debian)" "bash -c 'cd $small && $uucat f* $into'" "${extra[@]}" >/dev/null
  cat "$table"
done
echo
echo "== system calls for 1,000 files of 1 KiB into /dev/null (strace -c -f)"
cats=("$S cat" cat)
[ -x "$gnunew" ] && cats+=("$gnunew")
for c in "${cats[@]}"; do
  n=$(cd "$small" && strace -c -f -o "$cache/strace.txt" $c $(ls | head -1000) > /dev/null; awk '/total/ {print $4}' "$cache/strace.txt")
  echo "$c: $n calls"
done
head -c 100 "$data" > "$small/tiny"
echo
echo "== start-up: a 100-byte file"
new=()
[ -x "$gnunew" ] && new=(-n "GNU cat 9.10" "$gnunew $small/tiny")
hyperfine -N --warmup 20 --runs 300 --export-markdown "$table" \
  -n "splice cat" "$S cat $small/tiny" -n "GNU cat 9.1" "cat $small/tiny" "${new[@]}" >/dev/null
cat "$table"
echo
echo "== tee into one pipe: ${size} MiB, splice cat FILE | TEE | splicing reader, 31 runs"
new=()
[ -x "$gnunew" ] && new=(-n "GNU tee 9.10" "bash -c 'set -o pipefail; $S cat $data | ${gnunew%cat}tee | $r'")
hyperfine -N --warmup 2 --runs 31 --export-markdown "$table" \
  -n "splice tee" "bash -c 'set -o pipefail; $S cat $data | $S tee | $r'" \
  -n "C splice loop" "bash -c 'set -o pipefail; $S cat $data | $cache/pipeloop | $r'" \
  "${new[@]}" >/dev/null
cat "$table"
echo
echo "== one big file: ${size} MiB from tmpfs into a splicing reader, 31 runs"
optional_cats "set -o pipefail; CAT $data | $r"
hyperfine -N --warmup 2 --runs 31 --export-markdown "$table" \
  -n "splice cat" "bash -c 'set -o pipefail; $S cat $data | $r'" \
  -n "C two-hop loop" "bash -c 'set -o pipefail; $cache/twohop $data | $r'" \
  -n "GNU cat 9.1" "bash -c 'set -o pipefail; cat $data | $r'" "${extra[@]}" >/dev/null
cat "$table"
}

run conns && {
echo
echo "== cost per connection: N idle connections held open through each relay (RSS, descriptors)"
# A sink process that accepts and holds every connection, and a client process that opens N
# connections through the relay, sends each its own 8-byte number, waits until the sink has
# read every number exactly once (every connection's bytes checked), then reports the relay's
# RSS and descriptors from /proc before closing everything. Two processes, so that each holds
# N descriptors under RLIMIT_NOFILE's hard limit.
conns=$(mktemp --suffix=.py)
cat > "$conns" <<'PY'
import os, resource, socket, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
role, sink_port, relay_port, pid, n = sys.argv[1], *map(int, sys.argv[2:6])
if role == "sink":
    l = socket.create_server(("127.0.0.1", sink_port), backlog=4096)
    held, seen = [], set()
    while len(held) < n:
        c, _ = l.accept()
        b = b""
        while len(b) < 8:
            k = c.recv(8 - len(b))
            if not k: break
            b += k
        seen.add(int.from_bytes(b, "big")); held.append(c)
    ok = seen == set(range(n))
    open(sys.argv[6], "w").write("ok" if ok else "missing %d" % (n - len(seen)))
    time.sleep(3600)
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"): return int(line.split()[1])
fds0, rss0 = len(os.listdir(f"/proc/{pid}/fd")), rss()
clients = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", relay_port)); s.sendall(i.to_bytes(8, "big")); clients.append(s)
t = time.time()
while not os.path.exists(sys.argv[6]) and time.time() - t < 120: time.sleep(0.05)
time.sleep(0.5)
fds, r = len(os.listdir(f"/proc/{pid}/fd")), rss()
verdict = open(sys.argv[6]).read() if os.path.exists(sys.argv[6]) else "sink timed out"
print(f"{n:6d} connections: RSS {r} KiB (+{(r - rss0) / n:.1f} KiB each), "
      f"{fds} descriptors (+{(fds - fds0) / n:.2f} each), every connection's bytes: {verdict}")
PY
hacfg=$(mktemp)
# The relay holds two descriptors per connection and RLIMIT_NOFILE's hard limit is 20,000 here
# (raising it needs CAP_SYS_RESOURCE, which this machine's root lacks): 9,900 is the most it
# can hold. HAProxy reserves about 2.5 per connection (maxconn 7,900), so it stops at 7,000.
for n in 100 1000 7000 9900; do
  for relay in splice haproxy; do
    [ $relay = haproxy ] && [ $n -gt 7000 ] && continue
    sp=$((27200 + RANDOM % 500)); rp=$((sp + 1000)); flag=$(mktemp -u)
    if [ $relay = splice ]; then
      (ulimit -n "$(ulimit -Hn)"; exec $S relay 127.0.0.1:$rp 127.0.0.1:$sp) & pid=$!
    else
      printf 'global\n    maxconn 7900\n    tune.pipesize 1048576\ndefaults\n    mode tcp\n    timeout connect 10s\n    timeout client 1m\n    timeout server 1m\n    option splice-auto\nfrontend f\n    bind 127.0.0.1:%s\n    default_backend b\nbackend b\n    server s 127.0.0.1:%s\n' $rp $sp > "$hacfg"
      (ulimit -n "$(ulimit -Hn)"; exec haproxy -db -q -f "$hacfg") & pid=$!
    fi
    (ulimit -n "$(ulimit -Hn)"; exec python3 "$conns" sink $sp $rp $pid $n "$flag") & sink=$!
    sleep 0.5
    printf '%-8s ' "$relay"; (ulimit -n "$(ulimit -Hn)"; python3 "$conns" client $sp $rp $pid $n "$flag")
    kill $pid $sink; wait $pid $sink 2>/dev/null || true; rm -f "$flag"
  done
done
rm -f "$conns" "$hacfg"
}
exit 0
