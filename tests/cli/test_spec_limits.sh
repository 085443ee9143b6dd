#!/usr/bin/env bash
# Inputs that used to pass `validate` and then fail late (exit 70/74 after training) or take minutes and gigabytes:
# each is now decided before training starts, quickly and without allocating the model (issue [6], defect 9).
# The single-message cases live in tests/data/bad_*.yaml (test_spec_goldens.sh); these need a train, a memory
# limit or a generated file.
source "$(dirname "$0")/lib.sh"

DATA=$SRC/tests/data
cd "$T"
cp "$SRC/datasets/housing.csv" .
housing_with_layers() {  # housing_with_layers FILE LAYER-LINES...
  local out=$1; shift
  { printf 'name: housing\ndata: {path: housing.csv, target: MEDV}\nmodel:\n  input: [13]\n  layers:\n'
    for l in "$@"; do printf '    - %s\n' "$l"; done
    printf 'train: {loss: mse, epochs: 1}\n'; } >"$out"
}

# A Latin-1 column name: exit 65 with file:row:col before a version is claimed (it trained every epoch and then
# exited 70 with json type_error.316 and no model).
cp "$DATA"/bad_csv_latin1_header.{yaml,csv} .
expect_rc 65 "$DLCTL" train bad_csv_latin1_header.yaml --runs "$T/runs"
grep -qF 'bad_csv_latin1_header.csv:1:7: the header is not UTF-8 (byte 0xe9)' "$T/err" || { cat "$T/err" >&2; fail "no file:row:col"; }
[ ! -e "$T/runs/tiny" ] || fail "a refused spec claimed a version: $(ls -R "$T/runs")"

# 10,000 columns: the feature names do not fit a model file: refused up front (it was exit 74 after training).
python3 - <<'PY'
n = 10000
with open("wide.csv", "w") as f:
    f.write(",".join(f"c{i}" for i in range(n)) + ",y\n")
    for r in range(4):
        f.write(",".join("1" for _ in range(n + 1)) + "\n")
with open("wide.yaml", "w") as f:
    f.write(f"name: wide\ndata: {{path: wide.csv, target: y}}\nmodel:\n  input: [{n}]\n  layers:\n    - dense: {{units: 1}}\ntrain: {{loss: mse}}\n")
PY
expect_rc 65 "$DLCTL" validate wide.yaml
grep -qF 'wide.csv: the 10000 feature names take 78892 bytes as a model file stores them, over the limit of 60000' "$T/err" ||
  { cat "$T/err" >&2; fail "wide: no clear message"; }
expect_rc 65 "$DLCTL" train wide.yaml --runs "$T/runs"
[ ! -e "$T/runs/wide" ] || fail "wide.yaml claimed a version"

# validate computes shapes and sizes without allocating: 120 M parameters (480 MB) validate within 400 MB of
# address space (it allocated and initialised them: std::bad_alloc, exit 70, there).
housing_with_layers big.yaml '{dense: {units: 8000000}}' '{dense: {units: 1}}'
# Under AddressSanitizer (DLCTL_SANITIZED) no address-space limit: its shadow memory alone reserves terabytes.
if [ -n "${DLCTL_SANITIZED:-}" ]; then
  expect_rc 0 "$DLCTL" validate big.yaml
else
  ( ulimit -v 400000; expect_rc 0 "$DLCTL" validate big.yaml )
fi
grep -qF "ok: 'housing', 120000001 parameters" "$T/out" || { cat "$T/out" "$T/err" >&2; fail "big.yaml: no parameter count"; }

# 100,000 layers (2.4 MB): refused by the size limit before yaml-cpp parses it (validating took minutes);
# 10,001 layers by the layer limit, in about a second.
python3 -c "
print('name: deep\ndata: {path: housing.csv, target: MEDV}\nmodel:\n  input: [13]\n  layers:')
for _ in range(100000): print('    - dense: {units: 1}')
print('train: {loss: mse}')" >many.yaml
start=$(date +%s)
expect_rc 65 timeout 30 "$DLCTL" validate many.yaml
grep -qF 'many.yaml: the spec is 2400' "$T/err" || { cat "$T/err" >&2; fail "many.yaml: no size limit"; }
python3 -c "
print('name: flat\ndata: {path: housing.csv, target: MEDV}\nmodel:\n  input: [13]\n  layers:')
for _ in range(10001): print('    - flatten: {}')
print('train: {loss: mse}')" >flat.yaml
expect_rc 65 timeout 30 "$DLCTL" validate flat.yaml
grep -qF 'model.layers: 10001 layers; the limit is 10000' "$T/err" || { cat "$T/err" >&2; fail "flat.yaml: no layer limit"; }
[ $(( $(date +%s) - start )) -le 10 ] || fail "validating took $(( $(date +%s) - start )) s"

# Messages escape what a file puts in them: no raw ESC or BEL reaches the terminal.
expect_rc 65 "$DLCTL" validate "$DATA/bad_control_characters.yaml"
! grep -q $'[\x1b\x07]' "$T/err" || fail "raw control characters in the message"
grep -qF "unknown layer 'dense\\e[31m\\x07'" "$T/err" || { cat "$T/err" >&2; fail "control characters not shown escaped"; }

echo "ok: spec and data limits"
