// bias_add on the GPU: x + b, b broadcast along the last axis, with numpy broadcasting (the CPU kernel is in
// bias_add.cpp).
#include "backend/cuda/elementwise.cuh"

namespace dl {
namespace {
void bias_add_cuda(const cuda::Args & a) {
    cuda::binary(a, [] __device__(float x, float y) { return x + y; });
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("bias_add", bias_add_cuda);
}  // namespace dl
