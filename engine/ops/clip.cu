// clip on the GPU: min(max(x, min), max) (clip.cpp).
#include "backend/cuda/elementwise.cuh"

namespace dl {
namespace {
void clip_cuda(const cuda::Args & a) {
    const float lo = static_cast<float>(cuda::attr_float(a, "min")),
                hi = static_cast<float>(cuda::attr_float(a, "max"));
    // std::min(std::max(x, lo), hi) as written, NaN included (fminf/fmaxf would drop a NaN).
    cuda::unary(a, [lo, hi] __device__(float x) {
        const float m = x < lo ? lo : x;
        return hi < m ? hi : m;
    });
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("clip", clip_cuda);
}  // namespace dl
