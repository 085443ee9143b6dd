// relu on the GPU: y = max(x, 0), elementwise (the CPU kernel is in relu.cpp).
#include "backend/cuda/elementwise.cuh"

namespace dl {
namespace {
void relu_cuda(const cuda::Args & a) {
    cuda::unary(a, [] __device__(float x) { return x > 0.0f ? x : 0.0f; });
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("relu", relu_cuda);
}  // namespace dl
