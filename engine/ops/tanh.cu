// tanh on the GPU: y = tanh(x), elementwise (the CPU kernel is in tanh.cpp).
#include "backend/cuda/elementwise.cuh"

namespace dl {
namespace {
void tanh_cuda(const cuda::Args & a) {
    cuda::unary(a, [] __device__(float x) { return tanhf(x); });
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("tanh", tanh_cuda);
}  // namespace dl
