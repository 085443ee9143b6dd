// mul on the GPU: a * b, with numpy broadcasting (the CPU kernel is in mul.cpp).
#include "backend/cuda/elementwise.cuh"

namespace dl {
namespace {
void mul_cuda(const cuda::Args & a) {
    cuda::binary(a, [] __device__(float x, float y) { return x * y; });
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("mul", mul_cuda);
}  // namespace dl
