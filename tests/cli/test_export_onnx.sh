# Every config, trained a few steps and exported to ONNX: the model passes onnx.checker (full_check) and
# onnxruntime's outputs match `dlctl predict` on rows of the config's own data (1e-5 relative, 1e-6 absolute),
# classifiers' "label" output included, at a batch of many rows and of one. A "zoo" spec adds every layer type
# and activation the configs leave out (strided, dilated, grouped and depthwise convolutions with "same" padding,
# pooling over partial windows, embedding, layer_norm, concat, ...).
source "$(dirname "$0")/lib.sh"
cd "$SRC"
python3 -c 'import onnx, onnxruntime, numpy, yaml' 2>/dev/null || python3 -m pip install -q onnx onnxruntime numpy pyyaml
short=(--set train.epochs=1 --set train.steps_per_epoch=20)

# normalize: none, so that the embedding's ids are the raw values (all in [0, 800) in the housing table).
cat >"$T/zoo.yaml" <<EOF
name: zoo
seed: 3
data: {path: $SRC/datasets/housing.csv, target: MEDV, test_split: 0.3, normalize: none}
model:
  input: [13]
  layers:
    - embedding: {name: emb, input_dim: 800, output_dim: 2}
    - flatten: {name: emb_flat}
    - layer_norm: {name: ln, inputs: [input]}
    - dense: {name: d1, units: 48, activation: gelu}
    - reshape: {name: img, target_shape: [4, 4, 3]}
    - conv2d: {name: c1, filters: 6, kernel_size: 3, strides: 2, padding: same, activation: elu}
    - zero_padding2d: {name: zp, padding: [[1, 0], [2, 1]]}
    - depthwise_conv2d: {name: dw, kernel_size: 2, depth_multiplier: 2, padding: same, activation: leaky_relu}
    - conv2d: {name: grp, filters: 4, kernel_size: 3, groups: 2, dilation_rate: 2, padding: same, activation: tanh}
    - avg_pool2d: {name: ap, pool_size: 2, strides: 2, padding: same}
    - max_pool2d: {name: mp, pool_size: 2, strides: 1, padding: same}
    - batch_norm: {name: bn, momentum: 0.5}
    - conv2d: {name: pw, filters: 4, kernel_size: 1, activation: sigmoid}
    - add: {name: res, inputs: [mp, pw]}
    - global_avg_pool2d: {name: gap}
    - concat: {name: cat, inputs: [gap, emb_flat]}
    - dense: {name: d2, units: 8, activation: log_softmax}
    - dropout: {rate: 0.3}
    - dense: {name: out, units: 1}
train: {loss: mse, batch_size: 16}
EOF

# Rows of a spec's data for `predict` and onnxruntime: the CSV's first 20 rows, or the first 16 test images as
# JSON lines of 28x28 lists of raw pixels (data.rescale is part of the model). Prints the file's path.
cat >"$T/rows.py" <<'PY'
import gzip, itertools, json, os, struct, sys, yaml
spec, out = sys.argv[1], sys.argv[2]
d = yaml.safe_load(open(spec))["data"]
here = lambda p: p if os.path.isabs(p) else os.path.join(os.path.dirname(spec), p)
if d.get("format") == "idx":
    with gzip.open(here(d["test_images"])) as f:
        _, count, h, w = struct.unpack(">4I", f.read(16))
        pixels = f.read(16 * h * w)
    out += ".jsonl"
    with open(out, "w") as o:
        for i in range(16):
            img = [[pixels[i * h * w + r * w + c] for c in range(w)] for r in range(h)]
            o.write(json.dumps({"input": img}) + "\n")
else:
    out += ".csv"
    with open(here(d["path"])) as f, open(out, "w") as o:
        o.writelines(itertools.islice(f, 21))
print(out)
PY

n=0
: >"$T/cases"
for spec in configs/*.yaml "$T/zoo.yaml"; do
  expect_rc 0 "$DLCTL" train "$spec" --runs "$T/runs" "${short[@]}" --quiet --json
  name=$(json "$T/out" 'j["name"]')
  expect_rc 0 "$DLCTL" export "$name@latest" --runs "$T/runs" --out "$T/export" --format onnx,native --json
  dir=$(json "$T/out" 'j["path"]')
  [ -f "$dir/model.onnx" ] || fail "$spec: no model.onnx in $dir"
  rows=$(python3 "$T/rows.py" "$spec" "$T/$name") || fail "$spec: cannot prepare input rows"
  expect_rc 0 "$DLCTL" predict "$dir" --input "$rows" --format jsonl --output "$T/$name.pred.jsonl"
  echo "$name $dir $rows $T/$name.pred.jsonl" >>"$T/cases"
  n=$((n+1))
done
[ $n -ge 6 ] || fail "expected at least 5 configs and the zoo, found $n"

python3 - "$T/cases" <<'PY' || fail "onnxruntime disagrees with dlctl predict"
import csv, json, sys
import numpy as np, onnx, onnxruntime as ort
ok = True
for line in open(sys.argv[1]):
    name, d, rows, pred = line.split()
    path = d + "/model.onnx"
    onnx.checker.check_model(onnx.load(path), full_check=True)
    sig = json.load(open(d + "/signature.json"))
    shape = sig["inputs"][0]["shape"][1:]
    if rows.endswith(".csv"):
        table = list(csv.DictReader(open(rows)))
        x = np.array([[float(r[c]) for c in sig["inputs"][0]["features"]] for r in table], dtype=np.float32)
    else:
        x = np.array([json.loads(l)["input"] for l in open(rows)], dtype=np.float32)
    x = x.reshape([len(x)] + shape)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["input"], sess.get_inputs()
    names = [o["name"] for o in sig["outputs"]]
    assert [o.name for o in sess.get_outputs()] == names, (names, sess.get_outputs())
    outs = sess.run(names, {"input": x})
    first = sess.run(names, {"input": x[:1]})  # the batch axis is dynamic: one row gives row 0's answer
    ours_rows = [json.loads(l) for l in open(pred) if l.strip()]
    key = "probabilities" if "label" in names else "prediction"
    ours = np.array([np.ravel(r[key]) for r in ours_rows], dtype=np.float64)
    theirs = outs[0].reshape(ours.shape).astype(np.float64)
    diff = np.abs(ours - theirs)
    rel = float(np.max(diff / (np.abs(theirs) + 1e-6)))
    good = bool(np.all(diff <= 1e-5 * np.abs(theirs) + 1e-6))
    good = good and np.allclose(first[0], outs[0][:1], rtol=1e-5, atol=1e-6)
    if "label" in names:
        labels = [v.decode() if isinstance(v, bytes) else str(v) for v in outs[1]]
        good = good and labels == [r["prediction"] for r in ours_rows] and list(first[1]) == list(outs[1][:1])
    print(f"{name}: {len(x)} rows, onnxruntime vs dlctl predict: max rel err {rel:.2e}, max abs err "
          f"{float(diff.max()):.2e}{'' if good else '  <- MISMATCH'}")
    ok = ok and good
sys.exit(0 if ok else 1)
PY
echo "export onnx: $n models agree with dlctl predict"
