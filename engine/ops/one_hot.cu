// one_hot on the GPU: y[i, c] = 1 where label i is c (labels outside [0, depth) give a zero row;
// one_hot.cpp).
#include "backend/cuda/elementwise.cuh"

namespace dl {
namespace {
__global__ void one_hot_kernel(const void * labels, cuda::ElemType type, float * y, int64_t n,
                               int64_t depth) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n * depth;
         i += int64_t{blockDim.x} * gridDim.x) {
        const int64_t row = i / depth, c = i % depth;
        y[i] = cuda::label_at(labels, type, row) == c ? 1.0f : 0.0f;
    }
}
void one_hot_cuda(const cuda::Args & a) {
    const int64_t depth = cuda::attr_int(a, "depth"), n = a.in[0].numel;
    if (n * depth == 0) return;
    one_hot_kernel<<<cuda::blocks_for(n * depth), 256, 0, a.stream>>>(a.in[0].data, a.in[0].type, a.out.f32(),
                                                                      n, depth);
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("one_hot", one_hot_cuda);
}  // namespace dl
