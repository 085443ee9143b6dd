// batch_norm_train_grad_gamma on the GPU: dgamma = Σ dy (x - mean) / sqrt(var + eps) per channel
// (batch_norm_train_grad_gamma.cpp).
#include "backend/cuda/norm.cuh"

namespace dl {
namespace {
__global__ void bn_grad_gamma_kernel(const double * __restrict__ stats, double eps, int64_t C,
                                     float * __restrict__ out) {
    for (int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; c < C;
         c += int64_t{blockDim.x} * gridDim.x)
        out[c] = static_cast<float>(stats[3 * C + c] / sqrt(stats[C + c] + eps));
}
void batch_norm_train_grad_gamma_cuda(const cuda::Args & a) {
    const int64_t C = a.out.numel;
    if (C == 0) return;
    const double * stats = cuda::channel_stats(a, a.in[0].f32(), a.in[1].f32(), a.in[0].numel / C, C);
    bn_grad_gamma_kernel<<<cuda::blocks_for(C), 256, 0, a.stream>>>(
        stats, cuda::attr_float(a, "epsilon", 1e-3), C, a.out.f32());
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("batch_norm_train_grad_gamma", batch_norm_train_grad_gamma_cuda);
}  // namespace dl
