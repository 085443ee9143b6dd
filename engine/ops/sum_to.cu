// sum_to on the GPU: sums the broadcast axes away down to the output's shape (a bias gradient; sum_to.cpp).
#include "backend/cuda/reduce.cuh"

namespace dl {
namespace {
void sum_to_cuda(const cuda::Args & a) {
    const cuda::Tensor &x = a.in[0], &y = a.out;
    bool reduced[cuda::kMaxRank] = {};
    const int lead = x.rank - y.rank;
    for (int d = 0; d < x.rank; ++d) reduced[d] = d < lead || (y.dims[d - lead] == 1 && x.dims[d] != 1);
    cuda::reduce_sum(a, reduced, /*mean=*/false);
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("sum_to", sum_to_cuda);
}  // namespace dl
