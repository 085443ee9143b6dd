#!/usr/bin/env bash
# The GPU run, in one go on a machine with an NVIDIA GPU, its driver, the CUDA toolkit and PyTorch (but none of
# Debian's libraries and no network): the CUDA tests, every config on the CPU and the GPU, then dlctl against
# PyTorch on the same GPU. Everything it prints and measures goes under $OUT (default ./gpu-results). Finishes
# within about 5 minutes.
#
#   make gpu-bundle                      # on the development machine: gpu-bundle/ (< 64 MiB, DLCTL_NATIVE=OFF)
#   OUT=/some/dir bench/gpu.sh [BUNDLE]  # on the GPU machine, from the repository's root
#
# The bundle holds dlctl, its CUDA plugin, the cuda-labelled test programs and the shared libraries they need
# apart from the NVIDIA driver's and the CUDA toolkit's. cuDNN comes from PyTorch's `nvidia` wheel.
set -uo pipefail
BUNDLE=$(cd "${1:-gpu-bundle}" && pwd) || { echo "no bundle: run 'make gpu-bundle' first" >&2; exit 2; }
OUT=${OUT:-$PWD/gpu-results}
# Everything but the log and the summary goes into details.tar.gz at the end (the device tool brings back at
# most 8 files), also when a `timeout` around this script stops it.
D=$OUT/details
mkdir -p "$D"
exec > >(tee "$OUT/gpu.log") 2>&1
pack() {
  rm -rf "$D/data" "$D/data64" "$D/runs" "$D/every-runs"  # regenerated in seconds; not worth carrying back
  [ -f "$D/summary.json" ] && cp "$D/summary.json" "$OUT/"
  tar -czf "$OUT/details.tar.gz" -C "$D" . && rm -rf "$D"
}
trap pack EXIT
trap 'echo "stopped after $SECONDS s"; exit 124' TERM INT
SECONDS=0
PY=${PYTHON:-python3}
step() { echo; echo "=== [$SECONDS s] $*"; }

step "machine"
nvidia-smi | tee "$D/nvidia-smi.txt" | head -15
nvcc --version 2>/dev/null | tail -1
$PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))' |
  tee "$D/torch.txt"

# Library path: the bundle's libraries, the CUDA toolkit's and cuDNN from PyTorch's wheel.
CUDNN=$($PY -c 'import nvidia.cudnn, os; print(os.path.join(list(nvidia.cudnn.__path__)[0], "lib"))' 2>/dev/null || true)
CUDA_LIB=$(dirname "$(command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)")/../lib64
# Last, the lib folders of PyTorch's other `nvidia` wheels: the toolkit's libraries, should the machine's own be
# elsewhere.
WHEELS=$($PY -c 'import nvidia, glob, os; print(":".join(glob.glob(os.path.join(list(nvidia.__path__)[0], "*", "lib"))))' 2>/dev/null || true)
export LD_LIBRARY_PATH="$BUNDLE/lib:$CUDA_LIB:${CUDNN:+$CUDNN:}${LD_LIBRARY_PATH:-}${WHEELS:+:$WHEELS}"
export DLCTL_CUDA_PLUGIN=$BUNDLE/bin/libdlctl_cuda.so DLCTL_SOURCE_DIR=$BUNDLE
# The machine's own loader first; if its C library is older than the bundle's (Debian 12's), the bundle's.
RUN=()
if ! "$BUNDLE/bin/dlctl" --version >/dev/null 2>&1; then
  RUN=("$BUNDLE/glibc/ld-linux-x86-64.so.2" --library-path "$BUNDLE/glibc:$LD_LIBRARY_PATH")
  echo "the machine's C library is older than the bundle's: using the bundle's C library and dynamic loader"
fi
dlctl() { "${RUN[@]}" "$BUNDLE/bin/dlctl" "$@"; }
dlctl --version --json | tee "$D/version.json"
ldd "$DLCTL_CUDA_PLUGIN" | grep -E "not found|cuda|cublas" | sed 's/^/  plugin needs: /'

step "data: Fashion-MNIST-shaped IDX files"
DATA=$D/data
[ -f "$DATA/train-images-idx3-ubyte.gz" ] || $PY "$BUNDLE/bench/make_idx.py" "$DATA"
export DLCTL_FASHION_DIR=$DATA FMNIST_DIR=$DATA
SETS=(--set "data.images=$DATA/train-images-idx3-ubyte.gz" --set "data.labels=$DATA/train-labels-idx1-ubyte.gz"
      --set "data.test_images=$DATA/t10k-images-idx3-ubyte.gz" --set "data.test_labels=$DATA/t10k-labels-idx1-ubyte.gz")

step "cuda tests"
timeout 90 "${RUN[@]}" "$BUNDLE/bin/test_cuda_ops" >"$D/test_cuda_ops.txt" 2>&1
ops=$?; echo "test_cuda_ops: exit $ops" | tee -a "$D/tests.txt"
grep -E "SKIP|MESSAGE|ERROR|threw|values:|logged:|test cases" "$D/test_cuda_ops.txt" | head -60
grep "largest relative" "$D/test_cuda_ops.txt" | sort -g -k7 | tail -8
timeout 90 "${RUN[@]}" "$BUNDLE/bin/test_cuda_training" -s >"$D/test_cuda_training.txt" 2>&1
echo "test_cuda_training: exit $?" | tee -a "$D/tests.txt"
grep -E "SKIP|MESSAGE|ERROR|threw|FAILED|test cases|largest" "$D/test_cuda_training.txt" | tail -20
# A kernel that failed: where, by the memory checker (it runs on some of these machines, not all).
if [ "$ops" != 0 ] && [ "$ops" != 77 ] && command -v compute-sanitizer >/dev/null; then
  timeout 60 compute-sanitizer --print-limit 10 "${RUN[@]}" "$BUNDLE/bin/test_cuda_ops" >"$D/sanitizer.txt" 2>&1
  echo "compute-sanitizer: exit $?"; grep -E "=====" "$D/sanitizer.txt" | head -30
fi

step "every config in configs/ on the CPU and on the GPU"
timeout 150 $PY "$BUNDLE/bench/every_config.py" "$BUNDLE/configs" "$DATA" "$D/every-runs" -- "${RUN[@]}" \
  "$BUNDLE/bin/dlctl" >"$D/every_config.txt" 2>&1
echo "every config: exit $?" | tee -a "$D/tests.txt"; cut -c1-160 "$D/every_config.txt"

step "dlctl train --device cuda (fashion-mlp, 1 epoch)"
timeout 60 "${RUN[@]}" "$BUNDLE/bin/dlctl" train "$BUNDLE/configs/fashion-mlp.yaml" --device cuda --runs "$D/runs" \
  "${SETS[@]}" --set train.epochs=1 >"$D/train.txt" 2>&1
echo "train: exit $?"; tail -12 "$D/train.txt"

step "speed: dlctl bench --device cuda against PyTorch eager, fashion-mlp at batch 64"
timeout 45 "${RUN[@]}" "$BUNDLE/bin/dlctl" bench "$BUNDLE/configs/fashion-mlp.yaml" --device cuda --steps 500 --json \
  "${SETS[@]}" >"$D/dlctl_mlp.json" 2>"$D/dlctl_mlp.err"; echo "dlctl bench: exit $?"
DLCTL_CUDA_GRAPHS=0 timeout 45 "${RUN[@]}" "$BUNDLE/bin/dlctl" bench "$BUNDLE/configs/fashion-mlp.yaml" --device cuda \
  --steps 500 --json "${SETS[@]}" >"$D/dlctl_mlp_nographs.json" 2>"$D/dlctl_mlp_nographs.err"
echo "dlctl bench without CUDA graphs: exit $?"
timeout 60 $PY "$BUNDLE/bench/torch_gpu.py" mlp >"$D/torch_mlp.json" 2>"$D/torch_mlp.err"; echo "torch mlp: exit $?"

step "speed: fashion-cnn at batch 256 against PyTorch eager and torch.compile"
timeout 60 "${RUN[@]}" "$BUNDLE/bin/dlctl" bench "$BUNDLE/configs/fashion-cnn.yaml" --device cuda --steps 100 --json \
  "${SETS[@]}" --set train.batch_size=256 >"$D/dlctl_cnn.json" 2>"$D/dlctl_cnn.err"; echo "dlctl bench cnn: exit $?"
timeout 100 $PY "$BUNDLE/bench/torch_gpu.py" cnn --steps 100 >"$D/torch_cnn.json" 2>"$D/torch_cnn.err"; echo "torch cnn: exit $?"

step "the GEMM-bound target: three 4096x4096 dense layers at batch 1024 in bf16, against cuBLAS' bf16 GEMM"
G=$D/data64
[ -f "$G/train-images-idx3-ubyte.gz" ] || $PY "$BUNDLE/bench/make_idx.py" "$G" --size 64 --train 8192 --test 1024
timeout 60 "${RUN[@]}" "$BUNDLE/bin/dlctl" bench "$BUNDLE/bench/gemm-bf16.yaml" --device cuda --steps 30 --json \
  --set "data.images=$G/train-images-idx3-ubyte.gz" --set "data.labels=$G/train-labels-idx1-ubyte.gz" \
  >"$D/dlctl_gemm.json" 2>"$D/dlctl_gemm.err"; echo "dlctl bench gemm-bf16: exit $?"
timeout 30 $PY "$BUNDLE/bench/torch_gpu.py" gemm >"$D/torch_gemm.json" 2>"$D/torch_gemm.err"; echo "torch gemm: exit $?"

step "summary"
$PY - "$D" <<'PY' | tee "$D/summary.txt"
import json, os, sys
out = sys.argv[1]
def load(name):
    try:
        with open(os.path.join(out, name)) as f:
            return json.loads(f.read().strip().splitlines()[-1])
    except Exception as e:
        return {"error": f"{name}: {e}"}
d, dn, t = load("dlctl_mlp.json"), load("dlctl_mlp_nographs.json"), load("torch_mlp.json")
summary = {"gpu": t.get("gpu"), "torch": t.get("torch"), "cuda": t.get("cuda")}
try:
    with open(os.path.join(out, "tests.txt")) as f:
        summary["tests"] = f.read().strip().splitlines()
    with open(os.path.join(out, "every_config.txt")) as f:
        summary["every_config"] = f.read().strip().splitlines()[-1]
except OSError as e:
    summary["tests_error"] = str(e)
if "train_samples_per_s" in d and "eager_step_ms" in t:
    dlctl_ms = 64 / d["train_samples_per_s"] * 1e3
    summary["mlp_batch64"] = {"dlctl_step_ms": dlctl_ms, "torch_eager_step_ms": t["eager_step_ms"],
                              "ratio_dlctl_over_torch": dlctl_ms / t["eager_step_ms"], "target": "<= 0.5"}
    if "train_samples_per_s" in dn:
        summary["mlp_batch64"]["dlctl_step_ms_without_cuda_graphs"] = 64 / dn["train_samples_per_s"] * 1e3
else:
    summary["mlp_batch64"] = {"dlctl": d, "torch": t}
c, tc = load("dlctl_cnn.json"), load("torch_cnn.json")
if "train_samples_per_s" in c and "eager_step_ms" in tc:
    dlctl_ms = 256 / c["train_samples_per_s"] * 1e3
    summary["cnn_batch256"] = {"dlctl_step_ms": dlctl_ms, "torch_eager_step_ms": tc["eager_step_ms"],
                               "ratio_dlctl_over_torch_eager": dlctl_ms / tc["eager_step_ms"], "target": "<= 0.8",
                               "torch_compile_step_ms": tc.get("compiled_step_ms"),
                               "torch_compile_error": tc.get("compiled_error")}
else:
    summary["cnn_batch256"] = {"dlctl": c, "torch": tc}
g, tg = load("dlctl_gemm.json"), load("torch_gemm.json")
if "kernels" in g and "bf16_tflops" in tg:
    # Each GEMM's flops from its shapes (k = the first input's size over the output's rows, transposed or
    # not) and its time as dlctl bench measured it (CUDA events; the bfloat16 conversions of activations
    # included). "Those shapes" are the 4096x4096 layers' GEMMs: 3 forward, 2 input and 3 weight gradients;
    # the output layer's (10 units) are reported apart.
    def numel(shape):
        n = 1
        for d in shape:
            n *= d
        return n
    big = {"flops": 0.0, "ms": 0.0, "count": 0}
    small = {"flops": 0.0, "ms": 0.0, "count": 0}
    for kern in g["kernels"]:
        if kern["op"] not in ("matmul", "fused_dense"):
            continue
        m, n = kern["output"][0], kern["output"][1]
        flops = 2.0 * m * n * numel(kern["inputs"][0]) / m
        part = big if flops > 1e10 else small
        part["flops"] += flops
        part["ms"] += kern["ms_per_step"]
        part["count"] += 1
    tflops = big["flops"] / (big["ms"] * 1e-3) / 1e12 if big["ms"] > 0 else 0.0
    summary["gemm_bf16"] = {"dlctl_gemm_tflops": tflops, "cublas_bf16_tflops": tg["bf16_tflops"],
                            "cublas_bf16_tflops_by_form": tg.get("bf16_tflops_by_form"),
                            "share_of_cublas_peak": tflops / tg["bf16_tflops"], "target": ">= 0.8",
                            "big_gemms": big["count"], "big_gemm_ms_per_step": big["ms"],
                            "output_layer_gemms": small["count"], "output_layer_gemm_ms_per_step": small["ms"],
                            "share_with_output_layer": (big["flops"] + small["flops"]) /
                            ((big["ms"] + small["ms"]) * 1e-3) / 1e12 / tg["bf16_tflops"],
                            "dlctl_step_ms": 1024 / g["train_samples_per_s"] * 1e3}
else:
    summary["gemm_bf16"] = {"dlctl": g, "torch": tg}
for name in ("dlctl_mlp.json", "dlctl_cnn.json", "dlctl_gemm.json"):  # where each step's time goes
    r = load(name)
    if "ops" in r:
        top = sorted(r["ops"], key=lambda o: -o["ms_per_step"])[:6]
        print(name, r.get("phases_ms_per_step"), "; ".join(f'{o["phase"]} {o["op"]} {o["ms_per_step"]:.3f} ms' for o in top))
print(json.dumps(summary, indent=2))
with open(os.path.join(out, "summary.json"), "w") as f:
    json.dump(summary, f, indent=2)
PY
echo "done in $SECONDS s; results in $OUT"
