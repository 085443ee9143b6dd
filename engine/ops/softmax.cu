// softmax on the GPU over the last axis: one block per row, max subtracted first (softmax.cpp).
#include "backend/cuda/elementwise.cuh"

namespace dl {
namespace {
__global__ void softmax_kernel(const float * __restrict__ x, float * __restrict__ y, int64_t cols) {
    const float * xr = x + blockIdx.x * cols;
    float * yr = y + blockIdx.x * cols;
    float m = -INFINITY;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, xr[c]);
    m = cuda::block_max(m);
    float s = 0;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
        const float e = expf(xr[c] - m);
        yr[c] = e;
        s += e;
    }
    s = cuda::block_sum(s);
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) yr[c] /= s;
}
void softmax_cuda(const cuda::Args & a) {
    const int64_t rows = a.out.rows(), cols = a.out.cols();
    if (rows * cols == 0) return;
    softmax_kernel<<<static_cast<unsigned>(rows), cuda::row_threads(cols), 0, a.stream>>>(a.in[0].f32(),
                                                                                          a.out.f32(), cols);
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("softmax", softmax_cuda);
}  // namespace dl
