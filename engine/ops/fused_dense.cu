// fused_dense on the GPU: y = act(x w + b) as one SGEMM and one pass adding the bias and applying the
// activation (fused_dense.cpp).
#include "backend/cuda/matmul.cuh"

namespace dl {
namespace {
void fused_dense_cuda(const cuda::Args & a) {
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
