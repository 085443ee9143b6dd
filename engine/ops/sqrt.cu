// sqrt on the GPU: y = sqrt(x), elementwise (the CPU kernel is in sqrt.cpp).
#include "backend/cuda/elementwise.cuh"

namespace dl {
namespace {
void sqrt_cuda(const cuda::Args & a) {
    cuda::unary(a, [] __device__(float x) { return sqrtf(x); });
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("sqrt", sqrt_cuda);
}  // namespace dl
