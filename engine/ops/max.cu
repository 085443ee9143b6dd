// max on the GPU: over `axes` (all when empty), a NaN winning as on the CPU (max.cpp).
#include "backend/cuda/reduce.cuh"

namespace dl {
namespace {
void max_cuda(const cuda::Args & a) {
    bool reduced[cuda::kMaxRank];
    cuda::reduced_axes(a, reduced);
    cuda::reduce_max(a, reduced);
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("max", max_cuda);
}  // namespace dl
