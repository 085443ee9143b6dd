#!/usr/bin/env bash
# make bench: dlctl against PyTorch on the same machine, threads and recipe, in one run (ratios, never absolute
# figures from another day). Usage: bench/run.sh [path/to/dlctl]. Writes bench/results/latest.json.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-build/dlctl}")
PEERS=${DLCTL_PEERS:-$(realpath -m ../shared/peers)}
THREADS=${THREADS:-2}
REPEATS=${REPEATS:-5}
PY=/usr/bin/python3  # Debian's interpreter: sees python3-torch
OUT=bench/results
mkdir -p "$OUT"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT

[ -f "$PEERS/torch_linreg.py" ] || { echo "bench: no peer scripts at $PEERS (set DLCTL_PEERS)" >&2; exit 66; }
# PyTorch at its best on this machine: OpenBLAS' OpenMP flavour, chosen per process (see ../shared/peers/README.md).
blas=$(dpkg -L libopenblas0-openmp 2>/dev/null | grep '/libblas.so.3$' | head -1 || true)
[ -n "$blas" ] || { echo "bench: libopenblas0-openmp is missing (make bench installs it)" >&2; exit 69; }
OMP_DIR=$(dirname "$blas")

# run_timed NAME CMD...: whole-process wall time (microseconds, as a user waits: start-up, imports and data
# loading included) and peak RSS (KiB, from time(1)) per run; stdout kept per run.
run_timed() {
  local name=$1 j; shift
  for j in $(seq "$REPEATS"); do
    local t0 t1
    t0=$(date +%s%N)
    /usr/bin/time -f "%M" -o "$T/$name.$j.rss" "$@" >"$T/$name.$j.out" 2>"$T/$name.$j.err" </dev/null \
      || { cat "$T/$name.$j.err" >&2; echo "bench: $name failed" >&2; exit 1; }
    t1=$(date +%s%N)
    echo "$(( (t1 - t0) / 1000 )) $(tail -1 "$T/$name.$j.rss")" >"$T/$name.$j.time"
  done
}

echo "bench: housing example, $THREADS threads, $REPEATS runs each, alternating"
for i in $(seq "$REPEATS"); do
  REPEATS=1 run_timed "dlctl_$i" "$BIN" train configs/housing.yaml --runs "$T/runs" --threads "$THREADS" --quiet --json
  REPEATS=1 run_timed "torch_$i" env LD_LIBRARY_PATH="$OMP_DIR" OMP_NUM_THREADS="$THREADS" "$PY" "$PEERS/torch_linreg.py" --scale --threads "$THREADS"
done

"$PY" - "$T" "$REPEATS" "$OUT/latest.json" <<'PY'
import glob, json, os, statistics, sys
t, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def timed(prefix):
    walls, rss, outs = [], [], []
    for i in range(1, n + 1):
        us, m = open(f"{t}/{prefix}_{i}.1.time").read().split()[-2:]
        walls.append(int(us) / 1e6); rss.append(int(m)); outs.append(open(f"{t}/{prefix}_{i}.1.out").read())
    return walls, rss, outs
dw, dr, do = timed("dlctl")
pw, pr, po = timed("torch")
# steady-state training throughput: dlctl from metrics.jsonl (epochs 2..), PyTorch from its own report
d_sps = []
for o in do:
    run = json.loads(o)["run_dir"]
    lines = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl"))]
    d_sps.append(statistics.median(l["samples_per_s"] for l in lines[1:]))
p_json = [json.loads(o.strip().splitlines()[-1]) for o in po]
p_sps = [j["steady_samples_per_s"] for j in p_json]
d_mse = json.loads(do[-1])["metrics"]["test_loss"]
p_mse = p_json[-1]["test_mse"]
res = {
    "model": "housing (Dense(1), Adam 1e-3, MSE, 100 epochs, batch 32)",
    "threads": int(os.environ.get("THREADS", "2")),
    "runs": n,
    "dlctl": {"wall_s_median": statistics.median(dw), "peak_rss_kib_median": statistics.median(dr),
              "steady_samples_per_s_median": statistics.median(d_sps), "test_mse": d_mse},
    "pytorch": {"wall_s_median": statistics.median(pw), "peak_rss_kib_median": statistics.median(pr),
                "steady_samples_per_s_median": statistics.median(p_sps), "test_mse": p_mse,
                "torch": p_json[-1].get("torch"), "blas": p_json[-1].get("blas")},
}
res["ratios"] = {
    "wall_pytorch_over_dlctl": statistics.median(pw) / statistics.median(dw),
    "steady_samples_per_s_dlctl_over_pytorch": statistics.median(d_sps) / statistics.median(p_sps),
    "peak_rss_dlctl_over_pytorch": statistics.median(dr) / statistics.median(pr),
}
json.dump(res, open(out, "w"), indent=2)
r = res["ratios"]
print(f"                      dlctl        PyTorch")
print(f"whole process wall    {res['dlctl']['wall_s_median']:8.3f} s   {res['pytorch']['wall_s_median']:8.3f} s   PyTorch/dlctl = {r['wall_pytorch_over_dlctl']:.1f}x (target >= 20x)")
print(f"steady samples/s      {res['dlctl']['steady_samples_per_s_median']:10.0f}   {res['pytorch']['steady_samples_per_s_median']:10.0f}   dlctl/PyTorch = {r['steady_samples_per_s_dlctl_over_pytorch']:.1f}x")
print(f"peak RSS              {res['dlctl']['peak_rss_kib_median']/1024:8.1f} MiB {res['pytorch']['peak_rss_kib_median']/1024:8.1f} MiB dlctl/PyTorch = {r['peak_rss_dlctl_over_pytorch']:.2f}")
print(f"test MSE              {d_mse:8.2f}     {p_mse:8.2f}")
print(f"written to {out}")
PY
