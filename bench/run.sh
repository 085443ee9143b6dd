#!/usr/bin/env bash
# make bench: dlctl against PyTorch on the same machine, threads and recipe, in one run (ratios, never absolute
# figures from another day). Usage: bench/run.sh [path/to/dlctl] [--quick]. Writes bench/results/latest.json,
# then runs bench/serve.sh (the inference server under wrk; SERVE=0 skips it).
# The cases and their targets are in bench/compare.py; bench/README.md has the figures and the profile.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-build/dlctl}")
shift || true
PEERS=${DLCTL_PEERS:-$(realpath -m ../shared/peers)}
THREADS=${THREADS:-2}
PY=/usr/bin/python3  # Debian's interpreter: sees python3-torch

[ -f "$PEERS/torch_linreg.py" ] || { echo "bench: no peer scripts at $PEERS (set DLCTL_PEERS)" >&2; exit 66; }
# PyTorch at its best on this machine: OpenBLAS' OpenMP flavour, chosen per process (see ../shared/peers/README.md).
blas=$(dpkg -L libopenblas0-openmp 2>/dev/null | grep '/libblas.so.3$' | head -1 || true)
[ -n "$blas" ] || { echo "bench: libopenblas0-openmp is missing (make bench installs it)" >&2; exit 69; }
OMP_DIR=$(dirname "$blas")

"$PY" bench/compare.py "$BIN" "$PEERS" "$OMP_DIR" "$@"
# The inference server against its own static route (wrk): SERVE=0 skips it.
if [ "${SERVE:-1}" != 0 ]; then bench/serve.sh "$BIN"; fi
