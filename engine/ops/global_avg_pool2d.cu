// global_avg_pool2d on the GPU: [N, H, W, C] -> [N, C], each mean added in double over the pixels in order,
// as the CPU kernel does (global_avg_pool2d.cpp). One thread per (image, channel): neighbouring threads read
// neighbouring channels.
#include "backend/cuda/kernel.h"

namespace dl {
namespace {
__global__ void global_avg_pool_kernel(const float * __restrict__ x, float * __restrict__ y, int64_t images,
                                       int64_t hw, int64_t channels) {
    const double scale = 1.0 / static_cast<double>(hw);
    for (int64_t o = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; o < images * channels;
         o += int64_t{blockDim.x} * gridDim.x) {
        const int64_t n = o / channels, c = o % channels;
        const float * xn = x + n * hw * channels + c;
        double acc = 0;
        for (int64_t i = 0; i < hw; ++i) acc += static_cast<double>(xn[i * channels]);
        y[o] = static_cast<float>(acc * scale);
    }
}
void global_avg_pool2d_cuda(const cuda::Args & a) {
    const cuda::Tensor & x = a.in[0];
    const int64_t n = x.dims[0] * x.dims[3];
    if (n == 0) return;
    global_avg_pool_kernel<<<cuda::blocks_for(n), 256, 0, a.stream>>>(x.f32(), a.out.f32(), x.dims[0],
                                                                      x.dims[1] * x.dims[2], x.dims[3]);
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("global_avg_pool2d", global_avg_pool2d_cuda);
}  // namespace dl
