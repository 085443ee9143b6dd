#!/usr/bin/env bash
# bench/same_outputs.sh DLCTL OUT: trains every shipped config briefly with DLCTL (fixed seed, 2 threads),
# exports each to every format and packages one twice, then prints one line per file with its sha256: run it
# with two builds (before and after a change that must not change behaviour) and diff the two listings.
set -euo pipefail
dlctl=$(realpath "$1") out=$2
src=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$out" && mkdir -p "$out"
short=(--set train.epochs=1 --set train.steps_per_epoch=8 --threads 2 --quiet)
for spec in "$src"/configs/*.yaml; do
  name=$(basename "$spec" .yaml)
  "$dlctl" train "$spec" --runs "$out/runs" "${short[@]}" >/dev/null
  "$dlctl" export "$name@latest" --runs "$out/runs" --out "$out/export" >/dev/null
done
version=$(ls "$out/export/housing")
"$dlctl" package "$out/export/housing/$version" --tag housing:1 --out "$out/image-a.oci" --json >"$out/package-a.json"
"$dlctl" package "$out/export/housing/$version" --tag housing:1 --out "$out/image-b.oci" --json >"$out/package-b.json"
cd "$out"
find runs export -type f \( -name 'model.h5' -o -name 'dlctl.h5' -o -name 'model.onnx' -o -name 'signature.json' \) |
  sort | xargs sha256sum
python3 -c 'import json,sys; print("package digests", *[json.load(open(f))["digest"] for f in sys.argv[1:]])' \
  package-a.json package-b.json
