// where_positive on the GPU: y = a where b > 0, else 0 (relu's gradient; the CPU kernel is in
// where_positive.cpp).
#include "backend/cuda/elementwise.cuh"

namespace dl {
namespace {
void where_positive_cuda(const cuda::Args & a) {
    cuda::binary(a, [] __device__(float x, float y) { return y > 0.0f ? x : 0.0f; });
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("where_positive", where_positive_cuda);
}  // namespace dl
