// log_softmax on the GPU over the last axis: one block per row, (x - max) - log(sum) in double
// (log_softmax.cpp).
#include "backend/cuda/elementwise.cuh"

namespace dl {
namespace {
__global__ void log_softmax_kernel(const float * __restrict__ x, float * __restrict__ y, int64_t cols) {
    const float * xr = x + blockIdx.x * cols;
    float * yr = y + blockIdx.x * cols;
    float m = -INFINITY;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, xr[c]);
    m = cuda::block_max(m);
    float s = 0;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
        s += static_cast<float>(exp(static_cast<double>(xr[c] - m)));
    const double log_s = log(static_cast<double>(cuda::block_sum(s)));
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
        yr[c] = static_cast<float>(static_cast<double>(xr[c] - m) - log_s);
}
void log_softmax_cuda(const cuda::Args & a) {
    const int64_t rows = a.out.rows(), cols = a.out.cols();
    if (rows * cols == 0) return;
    log_softmax_kernel<<<static_cast<unsigned>(rows), cuda::row_threads(cols), 0, a.stream>>>(
        a.in[0].f32(), a.out.f32(), cols);
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("log_softmax", log_softmax_cuda);
}  // namespace dl
