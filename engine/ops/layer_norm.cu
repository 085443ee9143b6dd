// layer_norm on the GPU: each row normalised by its own mean and variance (ops/row_moments.h, the CPU's order
// of additions), then scaled and shifted per feature (layer_norm.cpp). One thread per row.
#include "backend/cuda/kernel.h"
#include "ops/row_moments.h"

namespace dl {
namespace {
__global__ void layer_norm_kernel(const float * __restrict__ x, const float * __restrict__ gamma,
                                  const float * __restrict__ beta, double eps, float * __restrict__ y,
                                  int64_t rows, int64_t D) {
    for (int64_t r = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; r < rows;
         r += int64_t{blockDim.x} * gridDim.x) {
        const float * xr = x + r * D;
        float * yr = y + r * D;
        double mean, var;
        row_moments(xr, D, mean, var);
        const float m = static_cast<float>(mean), s = static_cast<float>(1.0 / sqrt(var + eps));
        for (int64_t j = 0; j < D; ++j) yr[j] = (xr[j] - m) * s * gamma[j] + beta[j];
    }
}
void layer_norm_cuda(const cuda::Args & a) {
    const cuda::Tensor & x = a.in[0];
    if (x.numel == 0) return;
    layer_norm_kernel<<<cuda::blocks_for(x.rows(), 128), 128, 0, a.stream>>>(
        x.f32(), a.in[1].f32(), a.in[2].f32(), cuda::attr_float(a, "epsilon", 1e-3), a.out.f32(), x.rows(),
        x.cols());
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("layer_norm", layer_norm_cuda);
}  // namespace dl
