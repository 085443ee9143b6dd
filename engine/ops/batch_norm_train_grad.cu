// batch_norm_train_grad on the GPU: dx = g (dy - mean(dy)) - (x - mean) h, with g = gamma rstd and
// h = g rstd^2 mean(dy (x - mean)), from the channel statistics of x and dy (batch_norm_train_grad.cpp).
#include "backend/cuda/norm.cuh"

namespace dl {
namespace {
__global__ void bn_grad_coefficients_kernel(const double * __restrict__ stats,
                                            const float * __restrict__ gamma, double eps, int64_t rows,
                                            int64_t C, float * __restrict__ f) {
    const double n = static_cast<double>(rows);
    for (int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; c < C;
         c += int64_t{blockDim.x} * gridDim.x) {
        const double rstd = 1.0 / sqrt(stats[C + c] + eps), g = static_cast<double>(gamma[c]) * rstd;
        f[c] = static_cast<float>(stats[c]);                                        // mean
        f[C + c] = static_cast<float>(g);                                           // g
        f[2 * C + c] = static_cast<float>(stats[2 * C + c] / n);                    // mean of dy
        f[3 * C + c] = static_cast<float>(g * rstd * rstd * stats[3 * C + c] / n);  // h
    }
}
__global__ void bn_grad_apply_kernel(const float * __restrict__ x, const float * __restrict__ dy,
                                     const float * __restrict__ f, float * __restrict__ dx, int64_t n,
                                     int64_t C) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{blockDim.x} * gridDim.x) {
        const int64_t c = i % C;
        dx[i] = f[C + c] * (dy[i] - f[2 * C + c]) - (x[i] - f[c]) * f[3 * C + c];
    }
}
void batch_norm_train_grad_cuda(const cuda::Args & a) {
    const cuda::Tensor &x = a.in[0], &dy = a.in[2];
    const int64_t C = x.cols();
    if (x.numel == 0) return;
    const int64_t rows = x.numel / C;
    double * stats = cuda::channel_stats(a, x.f32(), dy.f32(), rows, C, 4 * C);
    auto * f = reinterpret_cast<float *>(stats + 4 * C);
    bn_grad_coefficients_kernel<<<cuda::blocks_for(C), 256, 0, a.stream>>>(
        stats, a.in[1].f32(), cuda::attr_float(a, "epsilon", 1e-3), rows, C, f);
    bn_grad_apply_kernel<<<cuda::blocks_for(x.numel), 256, 0, a.stream>>>(x.f32(), dy.f32(), f, a.out.f32(),
                                                                          x.numel, C);
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("batch_norm_train_grad", batch_norm_train_grad_cuda);
}  // namespace dl
