// matmul on the GPU: cuBLAS' SGEMM. dlctl's matrices are row-major and cuBLAS' column-major, so C = op(A)
// op(B) is computed as C^T = op(B)^T op(A)^T on the same buffers, no copies (the CPU kernel is in
// matmul.cpp).
#include "backend/cuda/matmul.cuh"

namespace dl {
namespace {
void matmul_cuda(const cuda::Args & a) {
    cuda::gemm(a, a.in[0], a.in[1], a.out, cuda::attr_int(a, "transpose_a") != 0,
               cuda::attr_int(a, "transpose_b") != 0);
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("matmul", matmul_cuda);
}  // namespace dl
