# `dlctl eval CANDIDATE --against BASELINE`: both versions scored on the same rows, printed side by side with the
# difference, both in --json; gates relative to the baseline (baseline, baseline*K, baseline+K, baseline-K)
# hold (exit 0) or fail (exit 3, with the measured values); `baseline` without --against is a usage error (2).
source "$(dirname "$0")/lib.sh"
cd "$SRC"
export DLCTL_RUNS="$T/runs"

# Two short versions of housing: the second trains longer, so their metrics differ.
expect_rc 0 "$DLCTL" train configs/housing.yaml --set train.epochs=2 --quiet --json
expect_rc 0 "$DLCTL" train configs/housing.yaml --set train.epochs=6 --set train.optimizer.lr=0.01 --quiet --json

expect_rc 0 "$DLCTL" eval housing@2 --against housing@1 --json
cp "$T/out" "$T/against.json"
expect_rc 0 "$DLCTL" eval housing@2 --json
cp "$T/out" "$T/candidate.json"
expect_rc 0 "$DLCTL" eval housing@1 --json
cp "$T/out" "$T/baseline.json"
python3 - "$T/against.json" "$T/candidate.json" "$T/baseline.json" <<'PY' || fail "eval --against --json: $(cat "$T/against.json")"
import json, sys
j, c, b = (json.load(open(p)) for p in sys.argv[1:])
assert list(j) == ["split", "samples", "candidate", "baseline", "difference", "gates"], list(j)
assert j["split"] == "test" and j["samples"] == 152, (j["split"], j["samples"])
# each side is what eval alone prints for it (both trained on the same data and split: the same rows)
assert j["candidate"] == c, (j["candidate"], c)
assert j["baseline"] == b, (j["baseline"], b)
assert (j["candidate"]["version"], j["baseline"]["version"]) == (2, 1)
for k in ("loss", "mae"):
    want = c["metrics"][k] - b["metrics"][k]
    assert abs(j["difference"][k] - want) <= 1e-12, (k, j["difference"][k], want)
assert j["difference"]["mae"] != 0, "the two versions should differ"
assert j["gates"] == []
PY

# The table: one row per metric with candidate, baseline and difference.
expect_rc 0 "$DLCTL" eval housing@2 --against housing@1
head -1 "$T/out" | grep -q '^housing@2 (candidate) against housing@1 (baseline) on test of housing@2 (152 samples)$' \
  || fail "first line: $(head -1 "$T/out")"
grep -qE '^metric +candidate +baseline +difference$' "$T/out" || fail "no header: $(cat "$T/out")"
for k in loss mae; do
  grep -qE "^$k +[0-9.e+-]+ +[0-9.e+-]+ +[+-][0-9.e+-]+$" "$T/out" || fail "no row for $k: $(cat "$T/out")"
done

# Gates: the baseline's own value, scaled, shifted; exit 0 when they hold, 3 (each failure printed) when not.
cand_mae=$(json "$T/against.json" "j['candidate']['metrics']['mae']")
base_mae=$(json "$T/against.json" "j['baseline']['metrics']['mae']")
# better is lower: the gate that holds is the one on the candidate's side of the baseline
if python3 -c "import sys; sys.exit(0 if $cand_mae <= $base_mae else 1)"; then
  good='mae<=baseline' bad='mae>baseline'
else
  good='mae>baseline' bad='mae<=baseline'
fi
expect_rc 0 "$DLCTL" eval housing@2 --against housing@1 --gate "$good" --gate 'mae<=baseline*100' \
  --gate 'loss>=baseline-1e9' --gate 'mae<1e9' --json
[ "$(json "$T/out" "[g['passed'] for g in j['gates']]")" = "[True, True, True, True]" ] || fail "gates: $(cat "$T/out")"
[ "$(json "$T/out" "j['gates'][1]['threshold'] == j['baseline']['metrics']['mae'] * 100")" = True ] \
  || fail "baseline*100 threshold: $(json "$T/out" "j['gates'][1]")"
[ "$(json "$T/out" "'baseline' in j['gates'][3]")" = False ] || fail "an absolute gate has no baseline value"
expect_rc 3 "$DLCTL" eval housing@2 --against housing@1 --gate "$bad" --gate 'mae<=baseline+1e9' --gate 'loss<0'
grep -q "gate failed: $bad (measured mae = .*; baseline housing@1 = .*, threshold " "$T/err" || fail "failure: $(cat "$T/err")"
grep -q "gate failed: loss<0 (measured loss = " "$T/err" || fail "absolute failure: $(cat "$T/err")"
grep -q "mae<=baseline+1e9" "$T/err" && fail "a gate that holds was reported: $(cat "$T/err")"
grep -q "2 of 3 quality gates failed" "$T/err" || fail "summary: $(cat "$T/err")"
grep -qE '^metric +candidate +baseline +difference$' "$T/out" || fail "a failed gate still prints the table"

# --data: both on every row of the file.
expect_rc 0 "$DLCTL" eval housing@2 --against housing@1 --data datasets/housing.csv --json
[ "$(json "$T/out" "(j['split'], j['samples'], j['baseline']['samples'])")" = "('data', 506, 506)" ] \
  || fail "--data: $(cat "$T/out")"

# A baseline trained on another split is scored on the candidate's rows (and the other way round).
expect_rc 0 "$DLCTL" train configs/housing.yaml --set train.epochs=2 --set data.test_split=0.2 --quiet --json
expect_rc 0 "$DLCTL" eval housing@3 --json
[ "$(json "$T/out" "j['samples']")" = 102 ] || fail "housing@3's own test split: $(json "$T/out" "j['samples']")"
expect_rc 0 "$DLCTL" eval housing@2 --against housing@3 --json
[ "$(json "$T/out" "(j['samples'], j['candidate']['samples'], j['baseline']['samples'])")" = "(152, 152, 152)" ] \
  || fail "baseline on another split: $(cat "$T/out")"
expect_rc 0 "$DLCTL" eval housing@3 --against housing@2 --json
[ "$(json "$T/out" "j['baseline']['samples']")" = 102 ] || fail "the candidate's rows: $(cat "$T/out")"

# A baseline whose feature columns are not the candidate's data's (here: the same columns in another order)
# is refused rather than scored on shuffled inputs.
python3 - datasets/housing.csv "$T/reordered.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
with open(sys.argv[2], "w", newline="") as f:
    csv.writer(f).writerows([r[1::-1] + r[2:] for r in rows])
PY
expect_rc 0 "$DLCTL" train configs/housing.yaml --set train.epochs=1 --set "data.path=$T/reordered.csv" --quiet --json
expect_rc 65 "$DLCTL" eval housing@2 --against housing@4
grep -q "feature columns \[CRIM, ZN, .*differ from the ones housing@4 was trained on (\[ZN, CRIM, " "$T/err" \
  || fail "reordered columns: $(cat "$T/err")"

# Usage errors: `baseline` without --against, a malformed expression, a metric the models lack.
expect_rc 2 "$DLCTL" eval housing@2 --gate 'mae<=baseline*1.02'
grep -q "compares with a baseline: add --against BASELINE" "$T/err" || fail "no --against: $(cat "$T/err")"
expect_rc 2 "$DLCTL" eval housing@2 --against housing@1 --gate 'mae<=baseline/2'
expect_rc 2 "$DLCTL" eval housing@2 --against housing@1 --gate 'mae<=baseline*x'
grep -q "'x' is not a number" "$T/err" || fail "bad factor: $(cat "$T/err")"
expect_rc 2 "$DLCTL" eval housing@2 --against housing@1 --gate 'accuracy>=baseline'
expect_rc 66 "$DLCTL" eval housing@2 --against housing@9

# A classifier against a regression model cannot be compared.
expect_rc 0 "$DLCTL" train configs/iris.yaml --set train.epochs=1 --quiet --json
expect_rc 2 "$DLCTL" eval iris@1 --against housing@1
grep -q "cannot be compared" "$T/err" || fail "task mismatch: $(cat "$T/err")"
echo "eval --against: both scored, difference, relative gates"
