// leaky_relu on the GPU: x where x > 0, else alpha x (Keras' default alpha 0.3; leaky_relu.cpp).
#include "backend/cuda/elementwise.cuh"

namespace dl {
namespace {
void leaky_relu_cuda(const cuda::Args & a) {
    const float alpha = static_cast<float>(cuda::attr_float(a, "alpha", 0.3));
    cuda::unary(a, [alpha] __device__(float x) { return x > 0.0f ? x : alpha * x; });
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("leaky_relu", leaky_relu_cuda);
}  // namespace dl
