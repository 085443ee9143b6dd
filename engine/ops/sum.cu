// sum on the GPU: over `axes` (all when empty), in double, in the CPU kernel's order (sum.cpp).
#include "backend/cuda/reduce.cuh"

namespace dl {
namespace {
void sum_cuda(const cuda::Args & a) {
    bool reduced[cuda::kMaxRank];
    cuda::reduced_axes(a, reduced);
    cuda::reduce_sum(a, reduced, /*mean=*/false);
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("sum", sum_cuda);
}  // namespace dl
