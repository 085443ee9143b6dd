// exp on the GPU: y = e^x, elementwise (the CPU kernel is in exp.cpp).
#include "backend/cuda/elementwise.cuh"

namespace dl {
namespace {
void exp_cuda(const cuda::Args & a) {
    cuda::unary(a, [] __device__(float x) { return expf(x); });
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("exp", exp_cuda);
}  // namespace dl
