// Row-major C = op(A) op(B) with cuBLAS (column-major): C^T = op(B)^T op(A)^T on the same buffers.
#pragma once

#include <stdexcept>
#include <string>

#include "backend/cuda/kernel.h"

namespace dl::cuda {

inline void gemm(const Args & args, const Tensor & a, const Tensor & b, const Tensor & c, bool ta, bool tb) {
    const int64_t m = c.dims[0], n = c.dims[1];
    const int64_t k = ta ? a.dims[0] : a.dims[1];
    if (m == 0 || n == 0) return;
    const float one = 1.0f, zero = 0.0f;
    const cublasStatus_t s = cublasSgemm(
        args.cublas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(n),
        static_cast<int>(m), static_cast<int>(k), &one, b.f32(), static_cast<int>(b.dims[1]), a.f32(),
        static_cast<int>(a.dims[1]), &zero, c.f32(), static_cast<int>(n));
    if (s != CUBLAS_STATUS_SUCCESS)
        throw std::runtime_error("cublasSgemm failed with status " + std::to_string(static_cast<int>(s)));
}

}  // namespace dl::cuda
