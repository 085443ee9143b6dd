# Keras export: model.h5 opens in TensorFlow with tf.keras.models.load_model (Keras 3's legacy HDF5 loader), with
# no custom objects, and predicts what `dlctl predict` does on the same raw rows, within 1e-5 relative (plus a
# 1e-6 absolute floor for probabilities near 0). Shipped dense and conv configs, briefly trained, plus two specs
# written here that use every layer type and activation the Keras writer translates.
source "$(dirname "$0")/lib.sh"
cd "$SRC"
export TF_CPP_MIN_LOG_LEVEL=3
if ! python3 -c 'import tensorflow, h5py' 2>/dev/null; then
  python3 -m pip install -q tensorflow-cpu || python3 -m pip install -q --break-system-packages tensorflow-cpu \
    || fail "tensorflow-cpu is missing and could not be installed with pip"
fi
short=(--set train.epochs=1 --set train.steps_per_epoch=20)
cases=$T/cases.tsv
: >"$cases"

# Header plus every 7th row of a data set: real rows, the target column left in (predict ignores it).
sample_rows() { awk 'NR == 1 || NR % 7 == 2' "$1" >"$2"; }
sample_rows datasets/housing.csv "$T/housing.csv"
sample_rows datasets/iris.csv "$T/iris.csv"
sample_rows datasets/wine.csv "$T/wine.csv"
sample_rows datasets/digits.csv "$T/digits.csv"
# The first 40 Fashion-MNIST test images as raw 0-255 pixels: data.rescale is part of both models.
python3 - "$T/fashion.csv" <<'EOF'
import gzip, sys
import numpy as np
raw = gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").read()
pixels = np.frombuffer(raw, dtype=np.uint8, offset=16)[: 40 * 784].reshape(40, 784)
with open(sys.argv[1], "w") as f:
    f.write(",".join(f"p{i}" for i in range(784)) + "\n")
    for row in pixels.astype(np.float32):
        f.write(",".join(format(v, ".9g") for v in row) + "\n")
EOF

# train SPEC, export keras+native, predict ROWS with dlctl; the Python below does the Keras side.
export_case() {
  local spec=$1 rows=$2
  expect_rc 0 "$DLCTL" train "$spec" --runs "$T/runs" "${short[@]}" --quiet --json
  local name dir
  name=$(json "$T/out" 'j["name"]')
  expect_rc 0 "$DLCTL" export "$name@latest" --runs "$T/runs" --out "$T/export" --format keras,native --json
  dir=$(json "$T/out" 'j["path"]')
  [ -f "$dir/model.h5" ] || fail "$name: no model.h5 in $dir"
  expect_rc 0 "$DLCTL" predict "$dir" --input "$rows" --format jsonl
  cp "$T/out" "$T/$name.predictions.jsonl"
  printf '%s\t%s\t%s\t%s\n' "$name" "$dir" "$rows" "$T/$name.predictions.jsonl" >>"$cases"
}

export_case configs/housing.yaml "$T/housing.csv"
export_case configs/housing-mlp.yaml "$T/housing.csv"
export_case configs/iris.yaml "$T/iris.csv"
export_case configs/wine.yaml "$T/wine.csv"
export_case configs/digits.yaml "$T/digits.csv"
export_case configs/fashion-mlp.yaml "$T/fashion.csv"
export_case configs/fashion-cnn.yaml "$T/fashion.csv"
export_case configs/fashion-resnet.yaml "$T/fashion.csv"

# Every other layer and activation: cropping, strided, dilated, grouped and depthwise convolutions, both paddings and pools,
# concat, layer_norm, the activations Keras spells differently (gelu's tanh form, leaky_relu's slope), a flat
# input reshaped to an image; and an embedding over the digits' integer pixel values (no normalisation).
cat >"$T/keras-layers.yaml" <<EOF
name: keras-layers
seed: 3
data: {path: $SRC/datasets/digits.csv, target: digit, test_split: 0.2, normalize: standard}
model:
  input: [64]
  layers:
    - reshape: {target_shape: [8, 8, 1]}
    - zero_padding2d: {padding: [[1, 0], [0, 1]]}
    - cropping2d: {cropping: [[0, 1], [1, 0]]}
    - conv2d: {name: c1, filters: 8, kernel_size: 3, strides: 2, padding: same, activation: gelu}
    - depthwise_conv2d: {name: dw, kernel_size: 3, depth_multiplier: 2, padding: same, activation: leaky_relu}
    - batch_norm: {name: bn, momentum: 0.5}
    - conv2d: {name: dilated, filters: 8, kernel_size: 3, dilation_rate: 2, padding: same, activation: elu}
    - conv2d: {name: grouped, filters: 8, kernel_size: 1, groups: 2, inputs: [bn]}
    - concat: {name: joined, inputs: [dilated, grouped]}
    - avg_pool2d: {pool_size: 3, strides: 2, padding: same}
    - max_pool2d: {pool_size: 2, strides: 1, padding: same}
    - layer_norm: {}
    - activation: {activation: gelu}
    - flatten: {}
    - dense: {units: 16, activation: tanh}
    - dropout: {rate: 0.3}
    - activation: {name: squash, activation: sigmoid}
    - dense: {units: 10, activation: softmax}
train: {loss: sparse_categorical_crossentropy, batch_size: 16}
EOF
cat >"$T/keras-embedding.yaml" <<EOF
name: keras-embedding
seed: 4
data: {path: $SRC/datasets/digits.csv, target: digit, test_split: 0.2}
model:
  input: [64]
  layers:
    - embedding: {input_dim: 17, output_dim: 3}
    - flatten: {}
    - dense: {units: 12, activation: leaky_relu}
    - dense: {units: 10, activation: softmax}
train: {loss: sparse_categorical_crossentropy, batch_size: 16}
EOF
export_case "$T/keras-layers.yaml" "$T/digits.csv"
export_case "$T/keras-embedding.yaml" "$T/digits.csv"

# Deep, with long layer names: a model_config over 64 KiB and layer_names in Keras' chunks (export failed with
# exit 74 beyond about 170 dense layers).
{
  printf 'name: keras-deep\nseed: 5\n'
  printf 'data: {path: %s/datasets/housing.csv, target: MEDV, normalize: standard}\n' "$SRC"
  printf 'model:\n  input: [13]\n  layers:\n'
  for i in $(seq 130); do
    printf '    - dense: {name: a_rather_long_layer_name_as_generated_by_a_tool_%03d, units: 4, activation: gelu}\n' "$i"
  done
  printf '    - dense: {units: 1}\ntrain: {loss: mse, batch_size: 32}\n'
} >"$T/keras-deep.yaml"
export_case "$T/keras-deep.yaml" "$T/housing.csv"

# TensorFlow starts slowly: every model in one process.
python3 - "$cases" <<'EOF'
import csv, json, sys
import numpy as np
import keras
import tensorflow as tf

tf.get_logger().setLevel("ERROR")  # one predict per model retraces by design
failed = []
for line in open(sys.argv[1]):
    name, directory, rows, predictions = line.rstrip("\n").split("\t")
    signature = json.load(open(f"{directory}/signature.json"))
    spec = signature["inputs"][0]
    with open(rows) as f:
        header, *body = list(csv.reader(f))
    columns = [header.index(c) for c in spec["features"]] if "features" in spec else range(len(header))
    x = np.array([[float(r[c]) for c in columns] for r in body], dtype=np.float32).reshape([-1] + spec["shape"][1:])
    model = tf.keras.models.load_model(f"{directory}/model.h5", compile=False)
    got = np.asarray(model.predict(x, verbose=0), dtype=np.float64).reshape(len(body), -1)
    want = []
    for text in open(predictions):
        j = json.loads(text)
        want.append(np.atleast_1d(np.asarray(j.get("probabilities", j["prediction"]), dtype=np.float64)))
    want = np.stack(want)
    if got.shape != want.shape:
        failed.append(f"{name}: Keras gives {got.shape}, dlctl {want.shape}")
        continue
    error = np.abs(got - want)
    relative = float((error / np.maximum(np.abs(want), 1e-30))[np.abs(want) >= 1e-3].max(initial=0))
    print(f"{name}: {type(model).__name__} of {len(model.layers)} layers, {len(body)} rows: max relative error "
          f"{relative:.2e}, max absolute {error.max():.2e}")
    if not np.all(error <= 1e-5 * np.abs(want) + 1e-6):
        i = np.unravel_index(np.argmax(error - 1e-5 * np.abs(want)), error.shape)
        failed.append(f"{name}: row {i[0]}, output {i[1]}: Keras {got[i]!r}, dlctl {want[i]!r}")
print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}")
if failed:
    sys.exit("FAIL: " + "\n".join(failed))
EOF
echo "keras export: model.h5 predicts as dlctl does"
