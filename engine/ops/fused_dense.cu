// fused_dense on the GPU: y = act(x w + b) as one GEMM with the bias and a ReLU in cuBLASLt's epilogue, or
// (sigmoid, tanh) a GEMM and one pass adding the bias and applying the activation (fused_dense.cpp).
#include "backend/cuda/matmul.cuh"

namespace dl {
namespace {
void fused_dense_cuda(const cuda::Args & a) {
    const bool relu = cuda::attr_is(a, "activation", "relu", "none");
    if ((relu || cuda::attr_is(a, "activation", "none", "none")) &&
        cuda::dense_with_epilogue(a, a.in[0], a.in[1], a.in[2].f32(), a.out, relu))
        return;
    cuda::gemm(a, a.in[0], a.in[1], a.out, false, false);
    const int act = cuda::attr_is(a, "activation", "relu", "none")      ? cuda::kRelu
                    : cuda::attr_is(a, "activation", "sigmoid", "none") ? cuda::kSigmoid
                    : cuda::attr_is(a, "activation", "tanh", "none")    ? cuda::kTanh
                                                                        : cuda::kLinear;
    cuda::bias_activation(a, a.out.f32(), a.in[2].f32(), a.out.numel, a.out.cols(), act);
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("fused_dense", fused_dense_cuda);
}  // namespace dl
