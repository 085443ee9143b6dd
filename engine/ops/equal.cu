// equal on the GPU: 1 where a == b, else 0, with numpy broadcasting (the CPU kernel is in equal.cpp).
#include "backend/cuda/elementwise.cuh"

namespace dl {
namespace {
void equal_cuda(const cuda::Args & a) {
    cuda::binary(a, [] __device__(float x, float y) { return x == y ? 1.0f : 0.0f; });
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("equal", equal_cuda);
}  // namespace dl
