#!/usr/bin/env bash
# `make soak`: dlctl serve under wrk for SOAK_SECONDS (600) while, every 30 s, a new version is exported into the
# served folder and labels.json changes, and once a minute a slowloris burst (200 connections sending a header
# byte every 3 s for 20 s) arrives. Passes when the well-behaved client (wrk) saw no failed request and no
# socket error, and the server's RSS after warm-up (the first minute) grew by less than 10% (plus 4 MiB).
# Usage: bench/soak.sh [path/to/dlctl]. Figures go to RELIABILITY.md ("Soak").
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-build/dlctl}")
SECONDS_TOTAL=${SOAK_SECONDS:-600}
CONNECTIONS=${SOAK_CONNECTIONS:-16}
command -v wrk >/dev/null || { echo "soak: wrk is missing (apt-get install wrk, or make bench-deps)" >&2; exit 69; }

WORK=$(mktemp -d)
PID="" WRK_PID="" BURST_PID=""
cleanup() {
  for p in $BURST_PID $WRK_PID $PID; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Versions to roll through: a few short trainings with other seeds.
VERSIONS=4
for seed in $(seq $VERSIONS); do
  "$BIN" train configs/housing.yaml --runs "$WORK/runs" --quiet --set train.epochs=2 --seed "$seed" >/dev/null 2>&1
done
"$BIN" export housing@1 --runs "$WORK/runs" --out "$WORK/export" --format native >/dev/null

"$BIN" serve "$WORK/export/housing" --port 0 --poll-ms 200 2>"$WORK/serve.log" &
PID=$!
PORT=""
for _ in $(seq 600); do
  PORT=$(sed -n 's#^dlctl: serving .* on http://127\.0\.0\.1:\([0-9][0-9]*\)$#\1#p' "$WORK/serve.log")
  [ -n "$PORT" ] && break
  sleep 0.05
done
[ -n "$PORT" ] || { cat "$WORK/serve.log" >&2; exit 1; }
URL=http://127.0.0.1:$PORT

row=$(sed -n 2p datasets/housing.csv | cut -d, -f1-13)
cat >"$WORK/predict.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"instances": [[$row]]}'
done = function(summary, latency, requests)
  io.write(string.format("SOAK requests=%d non2xx=%d connect=%d read=%d write=%d timeout=%d p50_ms=%.3f p99_ms=%.3f\n",
    summary.requests, summary.errors.status, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
EOF
wrk -t 2 -c "$CONNECTIONS" -d "${SECONDS_TOTAL}s" --timeout 5s -s "$WORK/predict.lua" \
  "$URL/v1/models/housing:predict" >"$WORK/wrk.out" 2>&1 &
WRK_PID=$!

slowloris_burst() {
  python3 - "$PORT" <<'PY'
import socket, sys, threading, time
port, stop = int(sys.argv[1]), time.time() + 20
def slow():
    s = None
    while time.time() < stop:
        try:
            if s is None:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(b"POST /v1/models/housing:predict HTTP/1.1\r\n")
            s.sendall(b"X")
            time.sleep(3)
        except OSError:
            s = None
threads = [threading.Thread(target=slow, daemon=True) for _ in range(200)]
for t in threads: t.start()
for t in threads: t.join()
PY
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$PID/status"; }
start=$(date +%s)
next_version=2 bursts=0
rss_log=()
while kill -0 "$WRK_PID" 2>/dev/null; do
  sleep 5
  elapsed=$(( $(date +%s) - start ))
  rss_log+=("$elapsed:$(rss_kb)")
  if (( elapsed / 30 >= next_version - 1 )); then
    v=$(( (next_version - 2) % VERSIONS + 1 ))
    # A new version, exported under the next number, then the label moved to it.
    "$BIN" export "housing@$v" --runs "$WORK/runs" --out "$WORK/export" --format native >/dev/null
    latest=$(ls "$WORK/export/housing" | grep -E '^[0-9]+$' | sort -n | tail -1)
    echo "{\"stable\": $latest}" >"$WORK/labels.tmp" && mv "$WORK/labels.tmp" "$WORK/export/housing/labels.json"
    next_version=$(( next_version + 1 ))
  fi
  if (( elapsed >= 45 && (elapsed - 45) / 60 >= bursts && elapsed + 25 < SECONDS_TOTAL )); then
    slowloris_burst &
    BURST_PID=$!
    bursts=$(( bursts + 1 ))
  fi
done
wait "$WRK_PID" || true
WRK_PID=""
kill -0 "$PID" || { echo "soak: the server died" >&2; tail "$WORK/serve.log" >&2; exit 1; }

line=$(grep '^SOAK ' "$WORK/wrk.out") || { cat "$WORK/wrk.out" >&2; exit 1; }
echo "$line"
grep 'Requests/sec' "$WORK/wrk.out" || true
versions=$(ls "$WORK/export/housing" | grep -cE '^[0-9]+$')
warm=""; last=""
for entry in "${rss_log[@]}"; do
  t=${entry%%:*} kb=${entry#*:}
  [ -z "$warm" ] && (( t >= 60 )) && warm=$kb
  last=$kb
done
warm=${warm:-$last}
echo "versions exported: $versions; RSS after warm-up ${warm} kB, at the end ${last} kB"
echo "RSS samples (s:kB): ${rss_log[*]}"
fail=0
for key in non2xx connect read write timeout; do
  v=$(sed -n "s/.* $key=\([0-9]*\).*/\1/p" <<<"$line")
  [ "$v" = 0 ] || { echo "soak: $key=$v, want 0" >&2; fail=1; }
done
(( last <= warm + warm / 10 + 4096 )) || { echo "soak: RSS grew from $warm kB to $last kB" >&2; fail=1; }
exit $fail
