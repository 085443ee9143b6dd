# `dlctl eval` on a classifier: precision, recall, F1 per class and macro, and the confusion matrix, equal to
# scikit-learn's (zero_division=0) on the same rows' predictions (`eval --data FILE` scores every row of FILE in
# order, as `predict --input FILE` does); the text table; the report's names in --gate.
source "$(dirname "$0")/lib.sh"
cd "$SRC"
export DLCTL_RUNS="$T/runs"
PY=/usr/bin/python3  # Debian's, with python3-sklearn
$PY -c "import sklearn" || fail "scikit-learn is missing: apt-get install python3-sklearn (make test-deps)"

# Two epochs: a model that still confuses classes, so the comparison is not all ones.
expect_rc 0 "$DLCTL" train configs/iris.yaml --set train.epochs=2 --quiet --json

# All rows, then only setosa and versicolor rows (a class absent from the truth: its recall is 0/0, and the
# macro average leaves it out unless it is predicted, as scikit-learn's does).
head -n 101 datasets/iris.csv >"$T/two-classes.csv"
for data in datasets/iris.csv "$T/two-classes.csv"; do
  expect_rc 0 "$DLCTL" eval iris@1 --data "$data" --json
  cp "$T/out" "$T/eval.json"
  expect_rc 0 "$DLCTL" predict iris@1 --input "$data" --output "$T/predictions.jsonl"
  $PY - "$data" "$T/predictions.jsonl" "$T/eval.json" <<'PY' || fail "eval's report differs from scikit-learn's on $data"
import csv, json, sys
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
truth = [r["species"] for r in csv.DictReader(open(sys.argv[1]))]
predicted = [json.loads(line)["prediction"] for line in open(sys.argv[2])]
ev = json.load(open(sys.argv[3]))
labels = ev["confusion_matrix"]["labels"]
assert labels == ["setosa", "versicolor", "virginica"], labels
assert len(truth) == len(predicted) == ev["samples"], (len(truth), len(predicted), ev["samples"])
close = lambda a, b: abs(a - b) <= 1e-6
p, r, f, s = precision_recall_fscore_support(truth, predicted, labels=labels, zero_division=0)
for i, c in enumerate(labels):
    got = ev["classes"][c]
    want = {"precision": p[i], "recall": r[i], "f1": f[i]}
    for k, v in want.items():
        assert close(got[k], v), (c, k, got[k], v)
    assert got["support"] == s[i], (c, got["support"], s[i])
mp, mr, mf, _ = precision_recall_fscore_support(truth, predicted, average="macro", zero_division=0)
for k, v in {"precision": mp, "recall": mr, "f1": mf}.items():
    assert close(ev["macro"][k], v), ("macro", k, ev["macro"][k], v)
assert ev["macro"]["support"] == len(truth)
cm = confusion_matrix(truth, predicted, labels=labels).tolist()
assert ev["confusion_matrix"]["matrix"] == cm, (ev["confusion_matrix"]["matrix"], cm)
accuracy = sum(a == b for a, b in zip(truth, predicted)) / len(truth)
assert close(ev["metrics"]["accuracy"], accuracy), (ev["metrics"]["accuracy"], accuracy)
print(f"{sys.argv[1]}: macro f1 {mf:.6f} (eval {ev['macro']['f1']:.6f}), confusion {cm}")
PY
done

# The text table on the default test split: metrics first (as before), then the report and the matrix.
expect_rc 0 "$DLCTL" eval iris@1
head -1 "$T/out" | grep -q '^iris@1 on test (45 samples)$' || fail "eval's first line: $(head -1 "$T/out")"
grep -q '^accuracy ' "$T/out" || fail "no accuracy line"
grep -qE '^class +precision +recall +f1 +support$' "$T/out" || fail "no report header: $(cat "$T/out")"
for c in setosa versicolor virginica macro; do
  grep -qE "^$c +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9]+$" "$T/out" || fail "no report row for $c: $(cat "$T/out")"
done
grep -q '^confusion matrix (rows: true class, columns: predicted class)$' "$T/out" || fail "no confusion matrix"
grep -qE '^ +setosa +versicolor +virginica$' "$T/out" || fail "confusion matrix header: $(cat "$T/out")"
cp "$T/out" "$T/out.text"
expect_rc 0 "$DLCTL" eval iris@1 --json
$PY - "$T/out" "$T/out.text" <<'PY' || fail "the text's confusion matrix differs from --json's"
import json, re, sys
ev = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read().split("confusion matrix")[1].splitlines()[2:]
rows = [[int(x) for x in l.split()[1:]] for l in text if l.strip()]
assert rows == ev["confusion_matrix"]["matrix"], (rows, ev["confusion_matrix"]["matrix"])
assert sum(map(sum, rows)) == ev["samples"] == 45
PY

# Gates over the report's names.
macro_f1=$(json "$T/out" "j['macro']['f1']")
expect_rc 0 "$DLCTL" eval iris@1 --gate "macro_f1>=$macro_f1" --gate 'f1.setosa>=0' --gate 'recall.virginica <= 1'
expect_rc 3 "$DLCTL" eval iris@1 --gate "macro_f1>$macro_f1"
grep -q "gate failed: macro_f1>$macro_f1 (measured macro_f1 = " "$T/err" || fail "failed gate: $(cat "$T/err")"
expect_rc 2 "$DLCTL" eval iris@1 --gate 'f1.setsa>=0.5'
grep -q "did you mean 'f1.setosa'" "$T/err" || fail "unknown class gate not explained: $(cat "$T/err")"
expect_rc 2 "$DLCTL" eval iris@1 --gate 'macro_f1>=baseline'
grep -q "add --against" "$T/err" || fail "baseline without --against not explained: $(cat "$T/err")"

# A regression model has no report: its --json keeps today's keys only.
expect_rc 0 "$DLCTL" train configs/housing.yaml --set train.epochs=1 --quiet --json
expect_rc 0 "$DLCTL" eval housing@1 --json
[ "$(json "$T/out" "sorted(j)")" = "['metrics', 'model', 'samples', 'split', 'version']" ] \
  || fail "regression eval --json keys: $(json "$T/out" "sorted(j)")"
echo "classification report matches scikit-learn"
