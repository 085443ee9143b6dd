// float32 -> bfloat16 copies of GEMM operands (Note [bf16 operands] in cuda_backend.cpp): four values per
// thread where both buffers allow 16- and 8-byte accesses.
#include <cuda_bf16.h>

#include <cstdint>

#include "backend/cuda/kernel.h"

namespace dl::cuda {

namespace {

__global__ void to_bf16_kernel(const float * __restrict__ x, __nv_bfloat16 * __restrict__ y, int64_t n) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{blockDim.x} * gridDim.x)
        y[i] = __float2bfloat16_rn(x[i]);
}

__global__ void to_bf16_x4_kernel(const float4 * __restrict__ x, __nv_bfloat162 * __restrict__ y,
                                  int64_t quads) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < quads;
         i += int64_t{blockDim.x} * gridDim.x) {
        const float4 v = x[i];
        y[2 * i] = __floats2bfloat162_rn(v.x, v.y);
        y[2 * i + 1] = __floats2bfloat162_rn(v.z, v.w);
    }
}

}  // namespace

void convert_to_bf16(const float * x, void * y, int64_t n, cudaStream_t stream) {
    if (n <= 0) return;
    auto * out = static_cast<__nv_bfloat16 *>(y);
    const bool aligned = reinterpret_cast<uintptr_t>(x) % 16 == 0 && reinterpret_cast<uintptr_t>(y) % 8 == 0;
    const int64_t quads = aligned ? n / 4 : 0;
    if (quads > 0)
        to_bf16_x4_kernel<<<blocks_for(quads), 256, 0, stream>>>(
            reinterpret_cast<const float4 *>(x), reinterpret_cast<__nv_bfloat162 *>(out), quads);
    if (n > quads * 4)
        to_bf16_kernel<<<blocks_for(n - quads * 4), 256, 0, stream>>>(x + quads * 4, out + quads * 4,
                                                                      n - quads * 4);
    check_launch("the bfloat16 conversion");
}

}  // namespace dl::cuda
