// fused_dense on the GPU: y = act(x w + b) as one SGEMM and one pass adding the bias and applying the
// activation (fused_dense.cpp).
#include "backend/cuda/matmul.cuh"

namespace dl {
namespace {
enum Activation { kNone, kRelu, kSigmoid, kTanh };

__global__ void bias_activation_kernel(float * __restrict__ y, const float * __restrict__ b, int64_t n,
                                       int64_t cols, int act) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{blockDim.x} * gridDim.x) {
        float v = y[i] + b[i % cols];
        if (act == kRelu)
            v = v > 0.0f ? v : 0.0f;
        else if (act == kSigmoid)
            v = 1.0f / (1.0f + expf(-v));
        else if (act == kTanh)
            v = tanhf(v);
        y[i] = v;
    }
}
void fused_dense_cuda(const cuda::Args & a) {
    cuda::gemm(a, a.in[0], a.in[1], a.out, false, false);
    const int act = cuda::attr_is(a, "activation", "relu", "none")      ? kRelu
                    : cuda::attr_is(a, "activation", "sigmoid", "none") ? kSigmoid
                    : cuda::attr_is(a, "activation", "tanh", "none")    ? kTanh
                                                                        : kNone;
    const int64_t n = a.out.numel;
    if (n == 0) return;
    bias_activation_kernel<<<cuda::blocks_for(n), 256, 0, a.stream>>>(a.out.f32(), a.in[2].f32(), n,
                                                                      a.out.cols(), act);
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("fused_dense", fused_dense_cuda);
}  // namespace dl
