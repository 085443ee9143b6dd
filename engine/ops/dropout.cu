// dropout on the GPU: the CPU kernel's draws (dropout.cpp), from the step's seed and step in device memory,
// so a recorded training step drops different units each time it is replayed.
#include "backend/cuda/elementwise.cuh"
#include "core/rng.h"

namespace dl {
namespace {
__global__ void dropout_kernel(const float * __restrict__ x, float * __restrict__ y, int64_t n, float rate,
                               uint64_t stream, const cuda::StepScalars * step) {
    const Rng rng(step->seed, stream ^ Rng::mix(step->step));
    const float scale = 1.0f / (1.0f - rate);
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{blockDim.x} * gridDim.x)
        y[i] = rng.uniform(static_cast<uint64_t>(i)) >= rate ? x[i] * scale : 0.0f;
}
void dropout_cuda(const cuda::Args & a) {
    const int64_t n = a.out.numel;
    if (n == 0) return;
    const uint64_t stream = Rng::stream("dropout", static_cast<uint64_t>(cuda::attr_int(a, "key")));
    dropout_kernel<<<cuda::blocks_for(n), 256, 0, a.stream>>>(
        a.in[0].f32(), a.out.f32(), n, static_cast<float>(cuda::attr_float(a, "rate")), stream, a.step);
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("dropout", dropout_cuda);
}  // namespace dl
