// log on the GPU: y = ln x, elementwise (the CPU kernel is in log.cpp).
#include "backend/cuda/elementwise.cuh"

namespace dl {
namespace {
void log_cuda(const cuda::Args & a) {
    cuda::unary(a, [] __device__(float x) { return logf(x); });
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("log", log_cuda);
}  // namespace dl
