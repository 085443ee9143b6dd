// avg_pool2d_grad on the GPU, in gather form: each input value adds dy * (1 / window size) of every window
// that covers it, in the CPU kernel's window order (avg_pool2d_grad.cpp).
#include "backend/cuda/pool.cuh"

namespace dl {
namespace {
__global__ void avg_pool_grad_kernel(cuda::Pool p, const float * __restrict__ dy, float * __restrict__ dx) {
    const int64_t total = p.n * p.h * p.w * p.c;
    for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < total;
         e += int64_t{blockDim.x} * gridDim.x) {
        const int64_t ch = e % p.c, b = (e / p.c) % p.w, a = (e / (p.c * p.w)) % p.h,
                      n = e / (p.c * p.w * p.h);
        const int64_t i_lo = (a + p.top - p.ph + 1 + p.sh - 1) / p.sh, i_hi = (a + p.top) / p.sh;
        const int64_t j_lo = (b + p.left - p.pw + 1 + p.sw - 1) / p.sw, j_hi = (b + p.left) / p.sw;
        float sum = 0.0f;
        for (int64_t i = i_lo > 0 ? i_lo : 0; i <= i_hi && i < p.oh; ++i)
            for (int64_t j = j_lo > 0 ? j_lo : 0; j <= j_hi && j < p.ow; ++j) {
                const cuda::Window win = cuda::window_of(p, i, j);
                const float scale = 1.0f / static_cast<float>((win.r1 - win.r0) * (win.q1 - win.q0));
                sum += dy[((n * p.oh + i) * p.ow + j) * p.c + ch] * scale;
            }
        dx[e] = sum;
    }
}
void avg_pool2d_grad_cuda(const cuda::Args & a) {
    const cuda::Pool p =
        cuda::pool_of(a, a.out, a.in[0]);  // dx is shaped like the pooled input, dy like its output
    if (a.out.numel == 0) return;
    avg_pool_grad_kernel<<<cuda::blocks_for(a.out.numel), 256, 0, a.stream>>>(p, a.in[0].f32(), a.out.f32());
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("avg_pool2d_grad", avg_pool2d_grad_cuda);
}  // namespace dl
