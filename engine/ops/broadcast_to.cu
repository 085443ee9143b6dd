// broadcast_to on the GPU: numpy broadcasting of the input to the output's shape (broadcast_to.cpp).
#include "backend/cuda/elementwise.cuh"

namespace dl {
namespace {
__global__ void broadcast_kernel(const float * __restrict__ x, float * __restrict__ y, int64_t n,
                                 cuda::Broadcast bc) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{blockDim.x} * gridDim.x) {
        int64_t rem = i, ix = 0;
        for (int d = bc.rank - 1; d >= 0; --d) {
            ix += (rem % bc.dims[d]) * bc.stride_a[d];
            rem /= bc.dims[d];
        }
        y[i] = x[ix];
    }
}
void broadcast_to_cuda(const cuda::Args & a) {
    const int64_t n = a.out.numel;
    if (n == 0) return;
    broadcast_kernel<<<cuda::blocks_for(n), 256, 0, a.stream>>>(a.in[0].f32(), a.out.f32(), n,
                                                                cuda::broadcast_of(a.in[0], a.in[0], a.out));
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("broadcast_to", broadcast_to_cuda);
}  // namespace dl
