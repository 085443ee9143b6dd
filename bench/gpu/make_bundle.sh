#!/usr/bin/env bash
# make_bundle.sh BUILD_DIR OUT_DIR: the self-contained folder bench/gpu.sh runs on the GPU machine: dlctl, its
# CUDA plugin and the cuda-labelled test programs (bin/), the shared libraries they load apart from the NVIDIA
# driver's and the CUDA toolkit's (lib/, and the C library with its dynamic loader in glibc/), the configs with
# their tables, and the benchmark scripts.
set -euo pipefail
build=$1 out=$2
src=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/bench"
for f in dlctl libdlctl_cuda.so tests/test_cuda_ops tests/test_cuda_training; do
  [ -f "$build/$f" ] || { echo "make_bundle: $build/$f is missing (was $build configured with DLCTL_CUDA=ON?)" >&2; exit 1; }
  cp "$build/$f" "$out/bin/"
done
strip --strip-unneeded "$out"/bin/* 2>/dev/null || true
# The toolkit's and the driver's libraries are the GPU machine's own; everything else comes along.
skip='/(libcuda|libcudart|libcublas|libcublasLt|libcudnn|libnvidia|libnvrtc|libcufft|libcurand|libcusparse|libcusolver)[.-]'
# The C library and its loader go apart (glibc/): bench/gpu.sh uses them only when the machine's own C library is
# older than the one dlctl was built against (a newer libc beside the machine's loader would not work).
glibc='^(ld-linux-x86-64\.so\.2|libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|libresolv\.so\.2)$'
mkdir -p "$out/glibc"
for f in "$out"/bin/*; do
  ldd "$f" | grep -o '/[^ ]*' | grep -Ev "$skip" || true
done | sort -u | while read -r lib; do
  name=$(basename "$lib")
  if [[ $name =~ $glibc ]]; then cp -L "$lib" "$out/glibc/$name"; else cp -L "$lib" "$out/lib/$name"; fi
done
cp -r "$src/configs" "$out/configs"
mkdir -p "$out/datasets" && cp "$src"/datasets/*.csv "$out/datasets/"  # the configs' ../datasets
cp "$src/bench/gpu/make_idx.py" "$src/bench/gpu/torch_gpu.py" "$src/bench/gpu/every_config.py" \
  "$src/bench/gpu/gemm-bf16.yaml" "$out/bench/"
size=$(du -sm "$out" | cut -f1)
echo "gpu bundle: $out, ${size} MiB ($(ls "$out/lib" | wc -l) libraries, $(ls "$out/glibc" | wc -l) of the C library)"
[ "$size" -lt 64 ] || { echo "make_bundle: $out is ${size} MiB, over the 64 MiB a device run carries" >&2; exit 1; }
