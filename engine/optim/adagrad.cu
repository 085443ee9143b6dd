// adagrad's fused update on the GPU: optim/adagrad.cpp's arithmetic (backend/cuda/optimizer_update.cuh).
#include "backend/cuda/optimizer_update.cuh"

namespace dl::cuda {
namespace {

struct AdagradUpdate {
    __device__ static void apply(const OptimizerRule & rule, const Scalars & s, const OptimizerSlice & x,
                                 int64_t i, float g) {
        float *p = x.param, *acc = x.slot0;
        acc[i] += g * g;
        p[i] -= s.lr * g / (sqrtf(acc[i]) + rule.epsilon);
    }
};

DL_REGISTER_CUDA_OPTIMIZER(OptimizerType::adagrad, AdagradUpdate);

}  // namespace
}  // namespace dl::cuda
