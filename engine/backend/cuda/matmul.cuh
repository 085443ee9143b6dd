// Row-major C = op(A) op(B) with cuBLAS (column-major): C^T = op(B)^T op(A)^T on the same buffers.
#pragma once

#include <stdexcept>
#include <string>

#include "backend/cuda/kernel.h"

namespace dl::cuda {

enum Activation { kLinear, kRelu, kSigmoid, kTanh };

// y[i] = act(y[i] + bias[i % cols]) in place (bias may be null): the bias_add and activation after a GEMM,
// rounded as the CPU rounds them.
__global__ inline void bias_activation_kernel(float * __restrict__ y, const float * __restrict__ b, int64_t n,
                                              int64_t cols, int act) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{blockDim.x} * gridDim.x) {
        float v = b ? y[i] + b[i % cols] : y[i];
        if (act == kRelu)
            v = v > 0.0f ? v : 0.0f;
        else if (act == kSigmoid)
            v = 1.0f / (1.0f + expf(-v));
        else if (act == kTanh)
            v = tanhf(v);
        y[i] = v;
    }
}

inline void bias_activation(const Args & a, float * y, const float * bias, int64_t n, int64_t cols, int act) {
    if (n == 0 || (!bias && act == kLinear)) return;
    bias_activation_kernel<<<blocks_for(n), 256, 0, a.stream>>>(y, bias, n, cols, act);
}

}  // namespace dl::cuda

namespace dl::cuda {

// Row-major C[m, n] = op(A)[m, k] op(B)[k, n] + beta C, each with its own leading dimension (row length in
// memory): sub-matrices of wider ones (a convolution group's columns) need no copies.
inline void gemm_rm(const Args & args, int64_t m, int64_t n, int64_t k, const float * a, int64_t lda, bool ta,
                    const float * b, int64_t ldb, bool tb, float * c, int64_t ldc, float beta = 0.0f) {
    if (m == 0 || n == 0) return;
    const float one = 1.0f;
    const cublasStatus_t s =
        cublasSgemm(args.cublas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                    static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &one, b,
                    static_cast<int>(ldb), a, static_cast<int>(lda), &beta, c, static_cast<int>(ldc));
    if (s != CUBLAS_STATUS_SUCCESS)
        throw std::runtime_error("cublasSgemm failed with status " + std::to_string(static_cast<int>(s)));
}

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
