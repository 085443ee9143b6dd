// minimum on the GPU: min(a, b), NaN from b as on the CPU, with numpy broadcasting (the CPU kernel is in
// minimum.cpp).
#include "backend/cuda/elementwise.cuh"

namespace dl {
namespace {
void minimum_cuda(const cuda::Args & a) {
    cuda::binary(a, [] __device__(float x, float y) { return (y < x || y != y) ? y : x; });
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("minimum", minimum_cuda);
}  // namespace dl
