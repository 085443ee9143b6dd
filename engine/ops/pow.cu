// pow on the GPU: a^b, with numpy broadcasting (the CPU kernel is in pow.cpp).
#include "backend/cuda/elementwise.cuh"

namespace dl {
namespace {
void pow_cuda(const cuda::Args & a) {
    cuda::binary(a, [] __device__(float x, float y) { return powf(x, y); });
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("pow", pow_cuda);
}  // namespace dl
