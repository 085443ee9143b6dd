// avg_pool2d on the GPU: the window's sum times 1 / (values inside the image), as the CPU kernel rounds it
// (avg_pool2d.cpp).
#include "backend/cuda/pool.cuh"

namespace dl {
namespace {
__global__ void avg_pool_kernel(cuda::Pool p, const float * __restrict__ x, float * __restrict__ y) {
    const int64_t total = p.n * p.oh * p.ow * p.c;
    for (int64_t o = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; o < total;
         o += int64_t{blockDim.x} * gridDim.x) {
        const auto [n, i, j, ch] = cuda::pool_output(p, o);
        const cuda::Window win = cuda::window_of(p, i, j);
        const float * xn = x + n * p.h * p.w * p.c;
        float sum = 0.0f;
        for (int64_t a = win.r0; a < win.r1; ++a)
            for (int64_t b = win.q0; b < win.q1; ++b) sum += xn[(a * p.w + b) * p.c + ch];
        y[o] = sum * (1.0f / static_cast<float>((win.r1 - win.r0) * (win.q1 - win.q0)));
    }
}
void avg_pool2d_cuda(const cuda::Args & a) {
    const cuda::Pool p = cuda::pool_of(a, a.in[0], a.out);
    if (a.out.numel == 0) return;
    avg_pool_kernel<<<cuda::blocks_for(a.out.numel), 256, 0, a.stream>>>(p, a.in[0].f32(), a.out.f32());
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("avg_pool2d", avg_pool2d_cuda);
}  // namespace dl
