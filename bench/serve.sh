#!/usr/bin/env bash
# `dlctl serve` under wrk: single-row predictions (POST /v1/models/<name>:predict) for the housing model and the
# Fashion-MNIST CNN, beside a fixed reply on the same server and HTTP stack (--bench-static-route) as the
# ceiling, at 1, 8 and 64 connections. Prints requests/s, p50/p99 latency and the ratio to the ceiling.
# Usage: bench/serve.sh [path/to/dlctl] [-- extra `dlctl serve` options]. DURATION=10 (seconds per run).
# The models train briefly: their weights do not matter for speed. Figures: bench/README.md ("Serving").
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-build/dlctl}")
shift || true
[ "${1:-}" = "--" ] && shift
SERVE_ARGS=("$@")
DURATION=${DURATION:-10}
command -v wrk >/dev/null || { echo "bench: wrk is missing (apt-get install wrk, or make bench-deps)" >&2; exit 69; }

WORK=$(mktemp -d)
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
quick=(--runs "$WORK/runs" --quiet --set train.epochs=1)
"$BIN" train configs/housing.yaml "${quick[@]}" >/dev/null
"$BIN" train configs/fashion-cnn.yaml "${quick[@]}" --set data.validation_split=0.9 >/dev/null
for model in housing fashion-cnn; do
  "$BIN" export "$model@latest" --runs "$WORK/runs" --out "$WORK/export" --format native >/dev/null
done

"$BIN" serve "$WORK/export/housing" "$WORK/export/fashion-cnn" --port 0 --bench-static-route "${SERVE_ARGS[@]}" \
  2>"$WORK/serve.log" &
PID=$!
PORT=""
for _ in $(seq 600); do
  PORT=$(sed -n 's#^dlctl: serving .* on http://127\.0\.0\.1:\([0-9][0-9]*\)$#\1#p' "$WORK/serve.log")
  [ -n "$PORT" ] && break
  sleep 0.05
done
[ -n "$PORT" ] || { cat "$WORK/serve.log" >&2; exit 1; }
URL=http://127.0.0.1:$PORT

# One single-row instance per request: a housing row from the data set, a 28x28 image (its values do not matter).
row=$(sed -n 2p datasets/housing.csv | cut -d, -f1-13)
image=$(python3 -c "print([[round((r * 28 + c) % 255 / 255, 3) for c in range(28)] for r in range(28)])")
lua() {  # FILE BODY
  cat >"$1" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$2'
EOF
}
lua "$WORK/static.lua" '{"instances": [[1.0]]}'
lua "$WORK/housing.lua" "{\"instances\": [[$row]]}"
lua "$WORK/fashion-cnn.lua" "{\"instances\": [$image]}"
for target in housing fashion-cnn; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary "$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" "$WORK/$target.lua")" "$URL/v1/models/$target:predict")
  [ "$code" = 200 ] || { echo "bench: $target predict answered $code" >&2; exit 1; }
done

# wrk's "Latency Distribution" as milliseconds; "Requests/sec".
wrk_figures() {
  awk '/Requests\/sec:/ {rps = $2}
       function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
       $1 == "50%" {p50 = ms($2)} $1 == "99%" {p99 = ms($2)}
       /Non-2xx|Socket errors/ {errors = errors " " $0}
       END {printf "%.0f %.3f %.3f%s\n", rps, p50, p99, errors}' "$1"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "serve options: ${SERVE_ARGS[*]:-(defaults)}; ${DURATION}s per run"
printf '%-12s %6s %10s %9s %9s %9s\n' target conns "req/s" "p50 ms" "p99 ms" ceiling
declare -A ceiling
for conns in 1 8 64; do
  threads=$((conns < 2 ? 1 : 2))
  for target in static housing fashion-cnn; do
    path=/v1/models/$target:predict
    [ "$target" = static ] && path=/bench/static
    wrk -t "$threads" -c "$conns" -d "${DURATION}s" --latency -s "$WORK/$target.lua" "$URL$path" >"$WORK/wrk.txt"
    read -r rps p50 p99 errors <<<"$(wrk_figures "$WORK/wrk.txt")"
    [ "$target" = static ] && ceiling[$conns]=$rps
    ratio=$(awk -v a="$rps" -v b="${ceiling[$conns]}" 'BEGIN {printf "%.0f%%", 100 * a / b}')
    printf '%-12s %6s %10s %9s %9s %9s %s\n' "$target" "$conns" "$rps" "$p50" "$p99" "$ratio" "${errors:-}"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
