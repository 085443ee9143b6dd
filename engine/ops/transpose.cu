// transpose on the GPU: y's axis i is x's axis perm[i] (reversed when perm is absent; transpose.cpp).
#include "backend/cuda/gather.cuh"

namespace dl {
namespace {
void transpose_cuda(const cuda::Args & a) {
    const cuda::Tensor &x = a.in[0], &y = a.out;
    int64_t perm[cuda::kMaxRank];
    const int given = cuda::attr_ints(a, "perm", perm, cuda::kMaxRank);
    int64_t xs[cuda::kMaxRank];
    cuda::strides_of(x, xs);
    cuda::GatherLayout l;
    l.rank = y.rank;
    for (int i = 0; i < y.rank; ++i) {
        l.dims[i] = y.dims[i];
        l.strides[i] = xs[given > 0 ? perm[i] : y.rank - 1 - i];
    }
    cuda::gather(a, l);
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("transpose", transpose_cuda);
}  // namespace dl
