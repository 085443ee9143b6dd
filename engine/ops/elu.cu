// elu on the GPU: x where x > 0, else alpha (e^x - 1) (Keras' default alpha 1; elu.cpp).
#include "backend/cuda/elementwise.cuh"

namespace dl {
namespace {
void elu_cuda(const cuda::Args & a) {
    const float alpha = static_cast<float>(cuda::attr_float(a, "alpha", 1.0));
    cuda::unary(a, [alpha] __device__(float x) { return x > 0.0f ? x : alpha * expm1f(x); });
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("elu", elu_cuda);
}  // namespace dl
