// slice on the GPU: the box at `begin` with the output's extents (slice.cpp).
#include "backend/cuda/gather.cuh"

namespace dl {
namespace {
void slice_cuda(const cuda::Args & a) {
    const cuda::Tensor &x = a.in[0], &y = a.out;
    int64_t begin[cuda::kMaxRank] = {};
    cuda::attr_ints(a, "begin", begin, cuda::kMaxRank);
    int64_t xs[cuda::kMaxRank];
    cuda::strides_of(x, xs);
    cuda::GatherLayout l;
    l.rank = y.rank;
    for (int d = 0; d < y.rank; ++d) {
        l.dims[d] = y.dims[d];
        l.strides[d] = xs[d];
        l.base += begin[d] * xs[d];
    }
    cuda::gather(a, l);
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("slice", slice_cuda);
}  // namespace dl
