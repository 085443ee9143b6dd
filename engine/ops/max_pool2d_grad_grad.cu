// max_pool2d_grad_grad on the GPU: each output takes g at the position of its window's maximum in x
// (max_pool2d_grad_grad.cpp).
#include "backend/cuda/pool.cuh"

namespace dl {
namespace {
__global__ void max_pool_gather_kernel(cuda::Pool p, const float * __restrict__ x,
                                       const float * __restrict__ g, float * __restrict__ y) {
    const int64_t total = p.n * p.oh * p.ow * p.c;
    for (int64_t o = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; o < total;
         o += int64_t{blockDim.x} * gridDim.x) {
        const auto [n, i, j, ch] = cuda::pool_output(p, o);
        float best;
        const int64_t at =
            cuda::window_argmax(p, x + n * p.h * p.w * p.c, cuda::window_of(p, i, j), ch, best);
        y[o] = g[n * p.h * p.w * p.c + at * p.c + ch];
    }
}
void max_pool2d_grad_grad_cuda(const cuda::Args & a) {
    const cuda::Pool p = cuda::pool_of(a, a.in[0], a.out);
    if (a.out.numel == 0) return;
    max_pool_gather_kernel<<<cuda::blocks_for(a.out.numel), 256, 0, a.stream>>>(p, a.in[0].f32(),
                                                                                a.in[1].f32(), a.out.f32());
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("max_pool2d_grad_grad", max_pool2d_grad_grad_cuda);
}  // namespace dl
