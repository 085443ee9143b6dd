// neg on the GPU: y = -x, elementwise (the CPU kernel is in neg.cpp).
#include "backend/cuda/elementwise.cuh"

namespace dl {
namespace {
void neg_cuda(const cuda::Args & a) {
    cuda::unary(a, [] __device__(float x) { return -x; });
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("neg", neg_cuda);
}  // namespace dl
