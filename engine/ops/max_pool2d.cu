// max_pool2d on the GPU: one thread per output value, the window scanned in the CPU kernel's order (a NaN
// wins; max_pool2d.cpp).
#include "backend/cuda/pool.cuh"

namespace dl {
namespace {
__global__ void max_pool_kernel(cuda::Pool p, const float * __restrict__ x, float * __restrict__ y) {
    const int64_t total = p.n * p.oh * p.ow * p.c;
    for (int64_t o = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; o < total;
         o += int64_t{blockDim.x} * gridDim.x) {
        const auto [n, i, j, ch] = cuda::pool_output(p, o);
        const cuda::Window win = cuda::window_of(p, i, j);
        const float * xn = x + n * p.h * p.w * p.c;
        float best = xn[(win.r0 * p.w + win.q0) * p.c + ch];
        for (int64_t a = win.r0; a < win.r1; ++a)
            for (int64_t b = a == win.r0 ? win.q0 + 1 : win.q0; b < win.q1; ++b) {
                const float v = xn[(a * p.w + b) * p.c + ch];
                best = (v > best || v != v) ? v : best;
            }
        y[o] = best;
    }
}
void max_pool2d_cuda(const cuda::Args & a) {
    const cuda::Pool p = cuda::pool_of(a, a.in[0], a.out);
    if (a.out.numel == 0) return;
    max_pool_kernel<<<cuda::blocks_for(a.out.numel), 256, 0, a.stream>>>(p, a.in[0].f32(), a.out.f32());
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("max_pool2d", max_pool2d_cuda);
}  // namespace dl
