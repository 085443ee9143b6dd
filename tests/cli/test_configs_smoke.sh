# Every shipped config validates and trains for a few steps (full-accuracy runs belong to make bench).
source "$(dirname "$0")/lib.sh"
cd "$SRC"
n=0
for spec in configs/*.yaml; do
  expect_rc 0 "$DLCTL" validate "$spec"
  expect_rc 0 "$DLCTL" train "$spec" --runs "$T/runs" --set train.epochs=2 --set train.steps_per_epoch=20 --quiet --json
  python3 -c "import json,math,sys; m=json.load(open(sys.argv[1]))['metrics']; sys.exit(0 if all(math.isfinite(v) for v in m.values()) else 1)" "$T/out" \
    || fail "$spec: non-finite metrics"
  n=$((n+1))
done
[ $n -ge 5 ] || fail "expected at least 5 configs, found $n"
echo "configs smoke: $n configs ok"
