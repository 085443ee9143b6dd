# `dlctl export` writes TF Serving's layout atomically with a signature that describes the model; `dlctl predict`
# scores CSV and JSON lines from an export or a run, agrees with `dlctl eval` on the same rows (so the saved
# normalisation is applied), and rejects bad input with file, row and column.
source "$(dirname "$0")/lib.sh"
cd "$SRC"
export DLCTL_RUNS="$T/runs"

expect_rc 0 "$DLCTL" train configs/housing.yaml --quiet --json
expect_rc 0 "$DLCTL" export housing@latest --out "$T/export" --format native --json
dir=$(json "$T/out" 'j["path"]')
[ "$dir" = "$T/export/housing/1" ] || fail "export path $dir, want $T/export/housing/1"
[ "$(json "$T/out" 'j["formats"]')" = "['native']" ] || fail "formats: $(cat "$T/out")"
[ -f "$dir/dlctl.h5" ] && [ -f "$dir/signature.json" ] || fail "export lacks dlctl.h5 or signature.json"
[ ! -e "$dir/model.onnx" ] || fail "--format native wrote model.onnx"
ls -a "$T/export/housing" | grep -q '^\.tmp' && fail "a temporary directory was left behind"

# The signature: input columns in order, the target, metrics and spec hash of the version.
sig="$dir/signature.json"
[ "$(json "$sig" 'j["inputs"][0]["features"]')" = "$(python3 -c "import csv; print(next(csv.reader(open('datasets/housing.csv')))[:-1])")" ] \
  || fail "signature features: $(json "$sig" 'j["inputs"][0]["features"]')"
[ "$(json "$sig" 'j["targets"]')" = "['MEDV']" ] || fail "signature targets"
[ "$(json "$sig" 'j["inputs"][0]["shape"]')" = "[-1, 13]" ] || fail "signature input shape"
[ "$(json "$sig" 'j["outputs"][0]["name"]')" = "prediction" ] || fail "signature output name"
meta="$T/runs/housing/1/meta.json"
[ "$(json "$sig" 'j["spec_sha256"]')" = "$(json "$meta" 'j["spec_sha256"]')" ] || fail "signature spec_sha256"
[ "$(json "$sig" 'j["metrics"]')" = "$(json "$meta" 'j["metrics"]')" ] || fail "signature metrics"

# predict: from the export and from the run, the same numbers; CSV and JSON lines.
head -41 datasets/housing.csv >"$T/rows.csv"   # 40 rows; MEDV is ignored
expect_rc 0 "$DLCTL" predict "$dir" --input "$T/rows.csv" --format jsonl --output "$T/a.jsonl"
expect_rc 0 "$DLCTL" predict housing@1 --input "$T/rows.csv" --format jsonl
cmp -s "$T/a.jsonl" "$T/out" || fail "predict from the export and from the run differ"
[ "$(wc -l <"$T/a.jsonl")" = 40 ] || fail "want 40 predictions, got $(wc -l <"$T/a.jsonl")"
expect_rc 0 "$DLCTL" predict "$dir" --input "$T/rows.csv" --output "$T/a.csv" --batch 7
[ "$(head -1 "$T/a.csv")" = prediction ] || fail "CSV header: $(head -1 "$T/a.csv")"
# Other batch sizes take other BLAS paths: the same values up to float rounding.
python3 - "$T/a.jsonl" "$T/a.csv" <<'PY' || fail "CSV and JSON lines predictions differ (or --batch changed them)"
import sys, json, csv
a = [json.loads(l)["prediction"] for l in open(sys.argv[1])]
b = [float(r["prediction"]) for r in csv.DictReader(open(sys.argv[2]))]
sys.exit(0 if len(a) == len(b) == 40 and all(abs(x - y) <= 1e-6 * max(1, abs(x)) for x, y in zip(a, b)) else 1)
PY
# JSON lines in: objects keyed by column, or the values in order.
python3 - "$T/rows.csv" "$T/rows.jsonl" "$T/list.jsonl" <<'PY'
import sys, csv, json
rows = list(csv.DictReader(open(sys.argv[1])))
with open(sys.argv[2], "w") as o, open(sys.argv[3], "w") as l:
    for r in rows:
        o.write(json.dumps({k: float(v) for k, v in r.items()}) + "\n")
        l.write(json.dumps([float(v) for k, v in r.items() if k != "MEDV"]) + "\n")
PY
expect_rc 0 "$DLCTL" predict "$dir" --input "$T/rows.jsonl"
cmp -s "$T/a.jsonl" "$T/out" || fail "JSON-lines objects give other predictions than the CSV"
expect_rc 0 "$DLCTL" predict "$dir" --input "$T/list.jsonl"
cmp -s "$T/a.jsonl" "$T/out" || fail "JSON-lines lists give other predictions than the CSV"

# Agreement with eval on the same rows: the mean absolute error of predict's output is eval's mae.
expect_rc 0 "$DLCTL" eval housing@1 --data "$T/rows.csv" --json
python3 - "$T/a.jsonl" "$T/rows.csv" "$T/out" <<'PY' || fail "predict disagrees with eval"
import sys, json, csv
p = [json.loads(l)["prediction"] for l in open(sys.argv[1])]
y = [float(r["MEDV"]) for r in csv.DictReader(open(sys.argv[2]))]
mae = sum(abs(a - b) for a, b in zip(p, y)) / len(y)
ev = json.load(open(sys.argv[3]))["metrics"]["mae"]
print(f"predict mae {mae:.6f}, eval mae {ev:.6f}")
sys.exit(0 if abs(mae - ev) <= 1e-5 * max(1, abs(ev)) else 1)
PY

# A classifier: label names, probabilities in label order, and eval's accuracy.
expect_rc 0 "$DLCTL" train configs/iris.yaml --quiet --json
expect_rc 0 "$DLCTL" export iris@latest --out "$T/export" --format native --json
idir=$(json "$T/out" 'j["path"]')
[ "$(json "$idir/signature.json" 'j["labels"]')" = "['setosa', 'versicolor', 'virginica']" ] || fail "signature labels"
[ "$(json "$idir/signature.json" '[o["name"] for o in j["outputs"]]')" = "['probabilities', 'label']" ] || fail "classifier outputs"
expect_rc 0 "$DLCTL" predict "$idir" --input datasets/iris.csv --output "$T/iris.jsonl"
expect_rc 0 "$DLCTL" predict "$idir" --input datasets/iris.csv --format csv
[ "$(head -1 "$T/out")" = "prediction,probability_setosa,probability_versicolor,probability_virginica" ] \
  || fail "classifier CSV header: $(head -1 "$T/out")"
expect_rc 0 "$DLCTL" eval iris@1 --data datasets/iris.csv --json
python3 - "$T/iris.jsonl" datasets/iris.csv "$T/out" <<'PY' || fail "classifier predictions disagree with eval"
import sys, json, csv
p = [json.loads(l) for l in open(sys.argv[1])]
labels = ["setosa", "versicolor", "virginica"]
for r in p:
    assert abs(sum(r["probabilities"]) - 1) < 1e-5, r
    assert r["prediction"] == labels[max(range(3), key=lambda i: r["probabilities"][i])], r
y = [r["species"] for r in csv.DictReader(open(sys.argv[2]))]
acc = sum(a["prediction"] == b for a, b in zip(p, y)) / len(y)
ev = json.load(open(sys.argv[3]))["metrics"]["accuracy"]
print(f"predict accuracy {acc:.4f}, eval accuracy {ev:.4f}")
sys.exit(0 if abs(acc - ev) < 1e-9 else 1)
PY

# Bad input: a missing feature column (with a suggestion), a non-number (row and column), bad JSON, usage.
sed '1s/CRIM/CRIMe/' "$T/rows.csv" >"$T/bad.csv"
expect_rc 65 "$DLCTL" predict "$dir" --input "$T/bad.csv"
grep -q "no column 'CRIM'" "$T/err" && grep -q "did you mean 'CRIMe'" "$T/err" || fail "missing column message: $(cat "$T/err")"
sed '4s/^0\.02729/abc/' "$T/rows.csv" >"$T/bad.csv"
expect_rc 65 "$DLCTL" predict "$dir" --input "$T/bad.csv"
grep -q "bad.csv:4:1" "$T/err" && grep -q "column 'CRIM': 'abc' is not a number" "$T/err" || fail "non-number message: $(cat "$T/err")"
printf '{"CRIM": 1,\n' >"$T/bad.jsonl"
expect_rc 65 "$DLCTL" predict "$dir" --input "$T/bad.jsonl"
grep -q "bad.jsonl:1" "$T/err" || fail "bad JSON message: $(cat "$T/err")"
echo '[1, 2, 3]' >"$T/bad.jsonl"
expect_rc 65 "$DLCTL" predict "$dir" --input "$T/bad.jsonl"
grep -q "3 values, but the model takes 13 values" "$T/err" || fail "wrong width message: $(cat "$T/err")"
expect_rc 66 "$DLCTL" predict "$dir" --input "$T/nothere.csv"
expect_rc 2 "$DLCTL" predict "$dir" --input "$T/rows.txt"
expect_rc 2 "$DLCTL" export housing@1 --out "$T/export" --format onx
grep -q "did you mean 'onnx'" "$T/err" || fail "unknown format message: $(cat "$T/err")"
expect_rc 66 "$DLCTL" export housing@7 --out "$T/export"

# Exporting a version again replaces it whole (a server reading the folder sees the old or the new one).
echo stale >"$dir/stale.txt"
expect_rc 0 "$DLCTL" export housing@1 --out "$T/export" --format native
[ ! -e "$dir/stale.txt" ] && [ -f "$dir/dlctl.h5" ] || fail "re-export did not replace the version directory"
ls -a "$T/export/housing" | grep -q '^\.tmp' && fail "a temporary directory was left behind"
echo "export and predict: all checks pass"
