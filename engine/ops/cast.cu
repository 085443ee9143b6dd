// cast on the GPU between f32 and i32: rounding to nearest, halves away from zero, as std::lround (cast.cpp).
#include "backend/cuda/kernel.h"

namespace dl {
namespace {
__global__ void to_i32_kernel(const float * x, int32_t * y, int64_t n) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{blockDim.x} * gridDim.x)
        y[i] = static_cast<int32_t>(lroundf(x[i]));
}
__global__ void to_f32_kernel(const int32_t * x, float * y, int64_t n) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{blockDim.x} * gridDim.x)
        y[i] = static_cast<float>(x[i]);
}
void cast_cuda(const cuda::Args & a) {
    const int64_t n = a.out.numel;
    if (n == 0) return;
    if (a.in[0].type == a.out.type) {
        cudaMemcpyAsync(a.out.data, a.in[0].data, static_cast<size_t>(n) * 4, cudaMemcpyDeviceToDevice,
                        a.stream);
    } else if (a.out.type == cuda::ElemType::i32) {
        to_i32_kernel<<<cuda::blocks_for(n), 256, 0, a.stream>>>(a.in[0].f32(),
                                                                 static_cast<int32_t *>(a.out.data), n);
    } else {
        to_f32_kernel<<<cuda::blocks_for(n), 256, 0, a.stream>>>(static_cast<const int32_t *>(a.in[0].data),
                                                                 a.out.f32(), n);
    }
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("cast", cast_cuda);
}  // namespace dl
