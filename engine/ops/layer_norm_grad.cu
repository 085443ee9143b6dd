// layer_norm_grad on the GPU: dx = rstd g - rstd mean(g) - (x - mean) rstd^3 mean(g (x - mean)) with g =
// gamma dy, per row, the sums in the CPU's order (layer_norm_grad.cpp, ops/row_moments.h). One thread per
// row.
#include "backend/cuda/kernel.h"
#include "ops/row_moments.h"

namespace dl {
namespace {
__global__ void layer_norm_grad_kernel(const float * __restrict__ x, const float * __restrict__ gamma,
                                       const float * __restrict__ dy, double eps, float * __restrict__ dx,
                                       int64_t rows, int64_t D) {
    for (int64_t r = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; r < rows;
         r += int64_t{blockDim.x} * gridDim.x) {
        const float * xr = x + r * D;
        const float * gr = dy + r * D;
        float * out = dx + r * D;
        double mean, var;
        row_moments(xr, D, mean, var);
        const double rstd = 1.0 / sqrt(var + eps), n = static_cast<double>(D);
        const double sg = row_sum(D, [&](int64_t j) { return static_cast<double>(gamma[j]) * gr[j]; });
        const double sgx = row_sum(D, [&](int64_t j) {
            return static_cast<double>(gamma[j]) * gr[j] * (static_cast<double>(xr[j]) - mean);
        });
        const float m = static_cast<float>(mean), s = static_cast<float>(rstd);
        const float c = static_cast<float>(rstd * sg / n),
                    h = static_cast<float>(rstd * rstd * rstd * sgx / n);
        for (int64_t j = 0; j < D; ++j) out[j] = s * gamma[j] * gr[j] - c - (xr[j] - m) * h;
    }
}
void layer_norm_grad_cuda(const cuda::Args & a) {
    const cuda::Tensor & x = a.in[0];
    if (x.numel == 0) return;
    layer_norm_grad_kernel<<<cuda::blocks_for(x.rows(), 128), 128, 0, a.stream>>>(
        x.f32(), a.in[1].f32(), a.in[2].f32(), cuda::attr_float(a, "epsilon", 1e-3), a.out.f32(), x.rows(),
        x.cols());
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("layer_norm_grad", layer_norm_grad_cuda);
}  // namespace dl
