// sigmoid on the GPU: y = 1 / (1 + e^-x), elementwise (the CPU kernel is in sigmoid.cpp).
#include "backend/cuda/elementwise.cuh"

namespace dl {
namespace {
void sigmoid_cuda(const cuda::Args & a) {
    cuda::unary(a, [] __device__(float x) { return 1.0f / (1.0f + expf(-x)); });
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("sigmoid", sigmoid_cuda);
}  // namespace dl
