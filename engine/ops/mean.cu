// mean on the GPU: over `axes` (all when empty), in double, in the CPU kernel's order (mean.cpp).
#include "backend/cuda/reduce.cuh"

namespace dl {
namespace {
void mean_cuda(const cuda::Args & a) {
    bool reduced[cuda::kMaxRank];
    cuda::reduced_axes(a, reduced);
    cuda::reduce_sum(a, reduced, /*mean=*/true);
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("mean", mean_cuda);
}  // namespace dl
