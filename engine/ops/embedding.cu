// embedding on the GPU: y[i] = table[ids[i]], a zero row for an id outside the table (embedding.cpp).
#include "backend/cuda/elementwise.cuh"

namespace dl {
namespace {
__global__ void embedding_kernel(const float * __restrict__ table, const void * ids, cuda::ElemType type,
                                 float * __restrict__ y, int64_t n, int64_t V, int64_t D) {
    for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < n * D;
         e += int64_t{blockDim.x} * gridDim.x) {
        const int64_t id = cuda::label_at(ids, type, e / D);
        y[e] = id >= 0 && id < V ? table[id * D + e % D] : 0.0f;
    }
}
void embedding_cuda(const cuda::Args & a) {
    const int64_t V = a.in[0].dims[0], D = a.in[0].dims[1], n = a.in[1].numel;
    if (n * D == 0) return;
    embedding_kernel<<<cuda::blocks_for(n * D), 256, 0, a.stream>>>(a.in[0].f32(), a.in[1].data, a.in[1].type,
                                                                    a.out.f32(), n, V, D);
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("embedding", embedding_cuda);
}  // namespace dl
