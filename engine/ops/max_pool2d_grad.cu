// max_pool2d_grad on the GPU, in gather form: each input value adds the output gradients of the windows whose
// maximum it is, in the CPU kernel's window order, so the sums are the CPU's (max_pool2d_grad.cpp). With
// relu_input (the fused relu backward) a maximum that is not positive passes nothing.
#include "backend/cuda/pool.cuh"

namespace dl {
namespace {
__global__ void max_pool_grad_kernel(cuda::Pool p, const float * __restrict__ x,
                                     const float * __restrict__ dy, float * __restrict__ dx,
                                     bool relu_input) {
    const int64_t total = p.n * p.h * p.w * p.c;
    for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < total;
         e += int64_t{blockDim.x} * gridDim.x) {
        const int64_t ch = e % p.c, b = (e / p.c) % p.w, a = (e / (p.c * p.w)) % p.h,
                      n = e / (p.c * p.w * p.h);
        const float * xn = x + n * p.h * p.w * p.c;
        // The output rows and columns whose windows contain (a, b).
        const int64_t i_lo = (a + p.top - p.ph + 1 + p.sh - 1) / p.sh, i_hi = (a + p.top) / p.sh;
        const int64_t j_lo = (b + p.left - p.pw + 1 + p.sw - 1) / p.sw, j_hi = (b + p.left) / p.sw;
        float sum = 0.0f;
        for (int64_t i = i_lo > 0 ? i_lo : 0; i <= i_hi && i < p.oh; ++i)
            for (int64_t j = j_lo > 0 ? j_lo : 0; j <= j_hi && j < p.ow; ++j) {
                float best;
                const int64_t at = cuda::window_argmax(p, xn, cuda::window_of(p, i, j), ch, best);
                if (at == a * p.w + b && (!relu_input || best > 0.0f))
                    sum += dy[((n * p.oh + i) * p.ow + j) * p.c + ch];
            }
        dx[e] = sum;
    }
}
void max_pool2d_grad_cuda(const cuda::Args & a) {
    const cuda::Pool p = cuda::pool_of(a, a.in[0], a.in[1]);
    if (a.out.numel == 0) return;
    max_pool_grad_kernel<<<cuda::blocks_for(a.out.numel), 256, 0, a.stream>>>(
        p, a.in[0].f32(), a.in[1].f32(), a.out.f32(), cuda::attr_int(a, "relu_input") != 0);
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("max_pool2d_grad", max_pool2d_grad_cuda);
}  // namespace dl
