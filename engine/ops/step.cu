// step on the GPU: y = 1 where x > 0, else 0, elementwise (the CPU kernel is in step.cpp).
#include "backend/cuda/elementwise.cuh"

namespace dl {
namespace {
void step_cuda(const cuda::Args & a) {
    cuda::unary(a, [] __device__(float x) { return x > 0.0f ? 1.0f : 0.0f; });
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("step", step_cuda);
}  // namespace dl
