# `dlctl diff A B`: the resolved specs key by key, the final metrics, the data digests and the lineage of two
# versions; exit 0 whether or not they differ, "same" in --json.
source "$(dirname "$0")/lib.sh"
cd "$SRC"
export DLCTL_RUNS="$T/runs"

expect_rc 0 "$DLCTL" train configs/housing.yaml --set train.epochs=2 --quiet --json
expect_rc 0 "$DLCTL" train configs/housing.yaml --set train.epochs=2 --set train.optimizer.lr=0.05 --quiet --json

expect_rc 0 "$DLCTL" diff housing@1 housing@2
grep -q '^housing@1 -> housing@2$' "$T/out" || fail "first line: $(head -1 "$T/out")"
grep -q '^spec: 1 key differs$' "$T/out" || fail "spec summary: $(cat "$T/out")"
grep -q '^  train.optimizer.lr: 0.001 -> 0.05$' "$T/out" || fail "no lr line: $(cat "$T/out")"
grep -qE '^  test_mae: [0-9.e+-]+ -> [0-9.e+-]+ \([+-][0-9.e+-]+\)$' "$T/out" || fail "no test_mae change: $(cat "$T/out")"
grep -q '^data: same (sha256:[0-9a-f]\{64\})$' "$T/out" || fail "data line: $(cat "$T/out")"
grep -qE '^  spec_sha256: [0-9a-f]{64} -> [0-9a-f]{64}$' "$T/out" || fail "lineage spec_sha256: $(cat "$T/out")"
grep -qE '^  created: ' "$T/out" || fail "lineage lacks created: $(cat "$T/out")"

expect_rc 0 "$DLCTL" diff housing@1 housing@2 --json
python3 - "$T/out" "$T/runs/housing" <<'PY' || fail "diff --json: $(cat "$T/out")"
import json, sys
j = json.load(open(sys.argv[1]))
assert list(j) == ["a", "b", "same", "spec", "metrics", "data", "lineage"], list(j)
assert (j["a"]["version"], j["b"]["version"]) == (1, 2)
assert j["same"] is False
assert j["spec"]["same"] is False
assert j["spec"]["changes"] == [{"key": "train.optimizer.lr", "a": "0.001", "b": "0.05"}], j["spec"]["changes"]
m = j["metrics"]
assert m["same"] is False
meta = [json.load(open(f"{sys.argv[2]}/{v}/meta.json")) for v in (1, 2)]
for k, v in m["values"].items():
    assert v["a"] == meta[0]["metrics"][k] and v["b"] == meta[1]["metrics"][k], (k, v)
    assert abs(v["difference"] - (v["b"] - v["a"])) <= 1e-12, (k, v)
assert m["values"]["test_mae"]["difference"] != 0
assert j["data"] == {"same": True, "a": meta[0]["data_sha256"], "b": meta[0]["data_sha256"]}, j["data"]
for side, mt in zip("ab", meta):
    assert j["lineage"][side]["spec_sha256"] == mt["spec_sha256"]
    assert j["lineage"][side]["created"] == mt["created"]
PY

# A version against itself: the same, and still exit 0.
expect_rc 0 "$DLCTL" diff housing@1 housing@1 --json
[ "$(json "$T/out" "(j['same'], j['spec']['changes'])")" = "(True, [])" ] || fail "self diff: $(cat "$T/out")"
expect_rc 0 "$DLCTL" diff housing@1 "$T/runs/housing/1"
grep -q '^spec: same$' "$T/out" || fail "self diff text: $(cat "$T/out")"

# A model with other layers and data: keys only one side has.
expect_rc 0 "$DLCTL" train configs/iris.yaml --set train.epochs=1 --quiet --json
expect_rc 0 "$DLCTL" diff housing@1 iris@latest --json
python3 - "$T/out" <<'PY' || fail "housing vs iris: $(cat "$T/out")"
import json, sys
j = json.load(open(sys.argv[1]))
changes = {c["key"]: (c["a"], c["b"]) for c in j["spec"]["changes"]}
assert changes["name"] == ("housing", "iris"), changes.get("name")
assert changes["model.input"] == ("[13]", "[4]"), changes.get("model.input")
assert changes["model.layers.1.dense.units"][0] is None, changes.get("model.layers.1.dense.units")
assert j["data"]["same"] is False
PY
expect_rc 66 "$DLCTL" diff housing@1 housing@9
expect_rc 2 "$DLCTL" diff housing@1
echo "diff: spec keys, metrics, data and lineage"
