// abs on the GPU: y = |x|, elementwise (the CPU kernel is in abs.cpp).
#include "backend/cuda/elementwise.cuh"

namespace dl {
namespace {
void abs_cuda(const cuda::Args & a) {
    cuda::unary(a, [] __device__(float x) { return fabsf(x); });
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("abs", abs_cuda);
}  // namespace dl
