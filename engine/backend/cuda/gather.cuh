// Copies where each output element comes from one input element at a computed offset (transpose, slice),
// for 4- and 8-byte elements alike.
#pragma once

#include "backend/cuda/kernel.h"

namespace dl::cuda {

// Output element i (row-major over `dims`) reads input element `base` + sum over axes of index * stride.
struct GatherLayout {
    int rank = 0;
    int64_t dims[kMaxRank] = {};
    int64_t strides[kMaxRank] = {};
    int64_t base = 0;
};

template <typename T>
__global__ void gather_kernel(const T * __restrict__ x, T * __restrict__ y, int64_t n, GatherLayout l) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{blockDim.x} * gridDim.x) {
        int64_t rem = i, off = l.base;
        for (int d = l.rank - 1; d >= 0; --d) {
            off += (rem % l.dims[d]) * l.strides[d];
            rem /= l.dims[d];
        }
        y[i] = x[off];
    }
}

inline void gather(const Args & a, const GatherLayout & l) {
    const int64_t n = a.out.numel;
    if (n == 0) return;
    if (a.out.type == ElemType::i64)
        gather_kernel<<<blocks_for(n), 256, 0, a.stream>>>(static_cast<const int64_t *>(a.in[0].data),
                                                           static_cast<int64_t *>(a.out.data), n, l);
    else
        gather_kernel<<<blocks_for(n), 256, 0, a.stream>>>(static_cast<const int32_t *>(a.in[0].data),
                                                           static_cast<int32_t *>(a.out.data), n, l);
}

// Row-major strides of `t`.
inline void strides_of(const Tensor & t, int64_t * strides) {
    int64_t s = 1;
    for (int d = t.rank - 1; d >= 0; --d) {
        strides[d] = s;
        s *= t.dims[d];
    }
}

}  // namespace dl::cuda
