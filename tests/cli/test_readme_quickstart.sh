# README.md's quick start and release-management examples, run exactly as printed (build/dlctl is the binary
# under test), after what `make demo` runs: every line must exit 0 and leave what the README says it does.
source "$(dirname "$0")/lib.sh"
README=$SRC/README.md
grep -qxF $'\t./$(BUILD)/dlctl train configs/housing.yaml' "$SRC/Makefile" || fail "make demo no longer runs what this test runs"

# The N-th ```sh block after the line matching PATTERN.
block() {
  awk -v pattern="$1" -v want="$2" '
    $0 ~ pattern { found = 1 }
    found && /^```sh$/ { n++; if (n == want) { on = 1; next } }
    on && /^```$/ { exit }
    on { print }' "$README"
}
block '^## Quick start' 2 >"$T/quickstart.sh"
block '^## Release management' 1 >"$T/release.sh"
grep -q 'dlctl eval housing@latest --against housing@stable' "$T/quickstart.sh" || fail "quick start block not found: $(cat "$T/quickstart.sh")"
grep -q 'dlctl rollback export/housing stable' "$T/release.sh" || fail "release block not found: $(cat "$T/release.sh")"

mkdir -p "$T/w/build"
ln -s "$DLCTL" "$T/w/build/dlctl"
ln -s "$SRC/configs" "$T/w/configs"
ln -s "$SRC/datasets" "$T/w/datasets"
cd "$T/w"
expect_rc 0 build/dlctl train configs/housing.yaml
run_lines() {  # FILE: each line as printed, in order
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    echo "\$ $line"
    bash -c "$line" >"$T/line.out" 2>"$T/line.err" </dev/null || {
      cat "$T/line.err" >&2
      fail "README line exited $?: $line"
    }
    cat "$T/line.out"
  done <"$1"
}
run_lines "$T/quickstart.sh"
[ "$(json runs/housing/labels.json "j")" = "{'stable': 2}" ] || fail "quick start labels: $(cat runs/housing/labels.json)"
[ -f export/housing/2/model.onnx ] && [ -s predictions.csv ] || fail "quick start export or predictions missing"
run_lines "$T/release.sh"
[ "$(json export/housing/labels.json "j")" = "{'stable': 1}" ] || fail "release labels: $(cat export/housing/labels.json)"
expect_rc 0 build/dlctl history export/housing --json
[ "$(json "$T/out" "[e['action'] for e in j]")" = "['label', 'label', 'canary_percent', 'promote', 'remove', 'rollback']" ] ||
  fail "release history: $(cat "$T/out")"
echo "README quick start and release examples: ok"
