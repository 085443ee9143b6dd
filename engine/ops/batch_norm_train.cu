// batch_norm_train on the GPU: the batch's channel statistics (ops/norm_stats.h's arithmetic), then
// y = (x - mean) * (gamma / sqrt(var + eps)) + beta with the CPU's float roundings (batch_norm_train.cpp).
#include "backend/cuda/norm.cuh"

namespace dl {
namespace {
__global__ void bn_coefficients_kernel(const double * __restrict__ stats, const float * __restrict__ gamma,
                                       double eps, int64_t C, float * __restrict__ mean,
                                       float * __restrict__ scale) {
    for (int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; c < C;
         c += int64_t{blockDim.x} * gridDim.x) {
        mean[c] = static_cast<float>(stats[c]);
        scale[c] = static_cast<float>(static_cast<double>(gamma[c]) / sqrt(stats[C + c] + eps));
    }
}
__global__ void bn_normalise_kernel(const float * __restrict__ x, const float * __restrict__ beta,
                                    const float * __restrict__ mean, const float * __restrict__ scale,
                                    float * __restrict__ y, int64_t n, int64_t C) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{blockDim.x} * gridDim.x) {
        const int64_t c = i % C;
        y[i] = (x[i] - mean[c]) * scale[c] + beta[c];
    }
}
void batch_norm_train_cuda(const cuda::Args & a) {
    const cuda::Tensor & x = a.in[0];
    const int64_t C = x.cols();
    if (x.numel == 0) return;
    double * stats = cuda::channel_stats(a, x.f32(), nullptr, x.numel / C, C, 2 * C);
    auto * mean = reinterpret_cast<float *>(stats + 2 * C);
    float * scale = mean + C;
    bn_coefficients_kernel<<<cuda::blocks_for(C), 256, 0, a.stream>>>(
        stats, a.in[1].f32(), cuda::attr_float(a, "epsilon", 1e-3), C, mean, scale);
    bn_normalise_kernel<<<cuda::blocks_for(x.numel), 256, 0, a.stream>>>(x.f32(), a.in[2].f32(), mean, scale,
                                                                         a.out.f32(), x.numel, C);
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("batch_norm_train", batch_norm_train_cuda);
}  // namespace dl
