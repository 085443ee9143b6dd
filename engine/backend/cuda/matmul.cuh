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

inline cublasComputeType_t compute_type(Precision p) {
    return p == Precision::bf16   ? CUBLAS_COMPUTE_32F_FAST_16BF
           : p == Precision::tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32
                                  : CUBLAS_COMPUTE_32F;
}

// Row-major C[m, n] = op(A)[m, k] op(B)[k, n] + beta C, each with its own leading dimension (row length in
// memory): sub-matrices of wider ones (a convolution group's columns) need no copies. cuBLAS is column-major,
// so this is C^T = op(B)^T op(A)^T on the same buffers. With train.precision tf32 or bf16 cuBLAS converts the
// float32 inputs on the fly for the tensor cores and accumulates in float32.
inline void gemm_rm(const Args & args, int64_t m, int64_t n, int64_t k, const float * a, int64_t lda, bool ta,
                    const float * b, int64_t ldb, bool tb, float * c, int64_t ldc, float beta = 0.0f) {
    if (m == 0 || n == 0) return;
    const float one = 1.0f;
    const cublasStatus_t s =
        cublasGemmEx(args.cublas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                     static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &one, b, CUDA_R_32F,
                     static_cast<int>(ldb), a, CUDA_R_32F, static_cast<int>(lda), &beta, c, CUDA_R_32F,
                     static_cast<int>(ldc), compute_type(args.precision), CUBLAS_GEMM_DEFAULT);
    if (s != CUBLAS_STATUS_SUCCESS)
        throw std::runtime_error("cublasGemmEx failed with status " + std::to_string(static_cast<int>(s)));
}

// Row-major C = op(A) op(B) for whole matrices. With train.precision bf16 the tensor cores read bfloat16
// copies of A and B (Note [bf16 operands]), which is what makes bf16 fast: converting float32 on the fly, as
// CUBLAS_COMPUTE_32F_FAST_16BF does, runs at a fraction of the bfloat16 rate.
inline void gemm(const Args & args, const Tensor & a, const Tensor & b, const Tensor & c, bool ta, bool tb) {
    const int64_t k = ta ? a.dims[0] : a.dims[1];
    if (args.precision != Precision::bf16) {
        gemm_rm(args, c.dims[0], c.dims[1], k, a.f32(), a.dims[1], ta, b.f32(), b.dims[1], tb, c.f32(),
                c.dims[1]);
        return;
    }
    const int64_t m = c.dims[0], n = c.dims[1];
    if (m == 0 || n == 0) return;
    const void * a16 = bf16_operand(args, a.f32(), a.numel);
    const void * b16 = bf16_operand(args, b.f32(), b.numel);
    const float one = 1.0f, zero = 0.0f;
    const cublasStatus_t s =
        cublasGemmEx(args.cublas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                     static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &one, b16, CUDA_R_16BF,
                     static_cast<int>(b.dims[1]), a16, CUDA_R_16BF, static_cast<int>(a.dims[1]), &zero,
                     c.f32(), CUDA_R_32F, static_cast<int>(n), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (s != CUBLAS_STATUS_SUCCESS)
        throw std::runtime_error("cublasGemmEx (bfloat16) failed with status " +
                                 std::to_string(static_cast<int>(s)));
}

// y[m, n] = act(x[m, k] w[k, n] + bias[n]) with the bias and the activation (none or ReLU) in cuBLASLt's
// epilogue: one pass over y where a GEMM and a bias pass make three. False where cuBLASLt has no algorithm
// for it (the caller then runs gemm and bias_activation).
bool dense_with_epilogue(const Args & args, const Tensor & x, const Tensor & w, const float * bias,
                         const Tensor & y, bool relu);

}  // namespace dl::cuda
