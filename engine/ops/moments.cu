// moments on the GPU: [2, C] = the channels' mean and biased variance over all other axes, the same
// statistics batch_norm_train normalises with (moments.cpp, ops/norm_stats.h).
#include "backend/cuda/norm.cuh"

namespace dl {
namespace {
__global__ void moments_write_kernel(const double * __restrict__ stats, float * __restrict__ y, int64_t C) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < 2 * C;
         i += int64_t{blockDim.x} * gridDim.x)
        y[i] = static_cast<float>(stats[i]);
}
void moments_cuda(const cuda::Args & a) {
    const int64_t C = a.out.dims[1];
    if (C == 0) return;
    const double * stats = cuda::channel_stats(a, a.in[0].f32(), nullptr, a.in[0].numel / C, C);
    moments_write_kernel<<<cuda::blocks_for(2 * C), 256, 0, a.stream>>>(stats, a.out.f32(), C);
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("moments", moments_cuda);
}  // namespace dl
