// pad on the GPU: zeros around x, `before[d]` of them in front on each axis (pad.cpp). One thread per output
// value: inside the copy of x it reads x, elsewhere it writes 0.
#include "backend/cuda/gather.cuh"

namespace dl {
namespace {
template <typename T>
__global__ void pad_kernel(const T * __restrict__ x, T * __restrict__ y, int64_t n, cuda::GatherLayout xl,
                           cuda::GatherLayout yl) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{blockDim.x} * gridDim.x) {
        int64_t rem = i, off = 0;
        bool inside = true;
        for (int d = yl.rank - 1; d >= 0; --d) {
            const int64_t at = rem % yl.dims[d] - yl.strides[d];  // yl.strides holds `before`
            rem /= yl.dims[d];
            inside = inside && at >= 0 && at < xl.dims[d];
            off += at * xl.strides[d];
        }
        y[i] = inside ? x[off] : T{0};
    }
}
void pad_cuda(const cuda::Args & a) {
    const cuda::Tensor &x = a.in[0], &y = a.out;
    const int64_t n = y.numel;
    if (n == 0) return;
    cuda::GatherLayout xl, yl;
    xl.rank = yl.rank = y.rank;
    cuda::strides_of(x, xl.strides);
    int64_t before[cuda::kMaxRank] = {};
    cuda::attr_ints(a, "before", before, cuda::kMaxRank);
    for (int d = 0; d < y.rank; ++d) {
        xl.dims[d] = x.dims[d];
        yl.dims[d] = y.dims[d];
        yl.strides[d] = before[d];
    }
    if (y.type == cuda::ElemType::i64)
        pad_kernel<<<cuda::blocks_for(n), 256, 0, a.stream>>>(static_cast<const int64_t *>(x.data),
                                                              static_cast<int64_t *>(y.data), n, xl, yl);
    else
        pad_kernel<<<cuda::blocks_for(n), 256, 0, a.stream>>>(static_cast<const int32_t *>(x.data),
                                                              static_cast<int32_t *>(y.data), n, xl, yl);
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("pad", pad_cuda);
}  // namespace dl
