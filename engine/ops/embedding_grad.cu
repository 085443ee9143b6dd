// embedding_grad on the GPU: each table value adds the gradients of the positions holding its id, in position
// order as on the CPU (embedding_grad.cpp), without atomics: one thread per table value scans the ids, which
// costs vocabulary x positions reads of small integers and keeps the sums reproducible.
#include "backend/cuda/elementwise.cuh"

namespace dl {
namespace {
__global__ void embedding_grad_kernel(const void * ids, cuda::ElemType type, const float * __restrict__ dy,
                                      float * __restrict__ out, int64_t n, int64_t V, int64_t D) {
    for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < V * D;
         e += int64_t{blockDim.x} * gridDim.x) {
        const int64_t v = e / D, d = e % D;
        float sum = 0.0f;
        for (int64_t i = 0; i < n; ++i)
            if (cuda::label_at(ids, type, i) == v) sum += dy[i * D + d];
        out[e] = sum;
    }
}
void embedding_grad_cuda(const cuda::Args & a) {
    const int64_t V = a.out.dims[0], D = a.out.dims[1], n = a.in[0].numel;
    if (V * D == 0) return;
    embedding_grad_kernel<<<cuda::blocks_for(V * D), 256, 0, a.stream>>>(a.in[0].data, a.in[0].type,
                                                                         a.in[1].f32(), a.out.f32(), n, V, D);
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("embedding_grad", embedding_grad_cuda);
}  // namespace dl
