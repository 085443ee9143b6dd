// batch_norm (inference) on the GPU: y = (x - mean) * (gamma / sqrt(var + eps)) + beta with the moving
// statistics, the scale computed in double and rounded once, as on the CPU (batch_norm.cpp).
#include "backend/cuda/kernel.h"

namespace dl {
namespace {
__global__ void batch_norm_kernel(const float * __restrict__ x, const float * __restrict__ gamma,
                                  const float * __restrict__ beta, const float * __restrict__ mean,
                                  const float * __restrict__ var, double eps, float * __restrict__ y,
                                  int64_t n, int64_t C) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{blockDim.x} * gridDim.x) {
        const int64_t c = i % C;
        const float scale =
            static_cast<float>(static_cast<double>(gamma[c]) / sqrt(static_cast<double>(var[c]) + eps));
        y[i] = (x[i] - mean[c]) * scale + beta[c];
    }
}
void batch_norm_cuda(const cuda::Args & a) {
    const cuda::Tensor & x = a.in[0];
    if (x.numel == 0) return;
    batch_norm_kernel<<<cuda::blocks_for(x.numel), 256, 0, a.stream>>>(
        x.f32(), a.in[1].f32(), a.in[2].f32(), a.in[3].f32(), a.in[4].f32(),
        cuda::attr_float(a, "epsilon", 1e-3), a.out.f32(), x.numel, x.cols());
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("batch_norm", batch_norm_cuda);
}  // namespace dl
