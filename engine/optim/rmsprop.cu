// rmsprop's fused update on the GPU: optim/rmsprop.cpp's arithmetic (backend/cuda/optimizer_update.cuh).
#include "backend/cuda/optimizer_update.cuh"

namespace dl::cuda {
namespace {

struct RmspropUpdate {
    __device__ static void apply(const OptimizerRule & rule, const Scalars & s, const OptimizerSlice & x,
                                 int64_t i, float g) {
        float *p = x.param, *r = x.slot0, *v = x.slot1;
        r[i] = rule.rho * r[i] + (1.0f - rule.rho) * g * g;
        const float update = s.lr * g / (sqrtf(r[i]) + rule.epsilon);
        if (v) {
            v[i] = rule.momentum * v[i] + update;
            p[i] -= v[i];
        } else {
            p[i] -= update;
        }
    }
};

DL_REGISTER_CUDA_OPTIMIZER(OptimizerType::rmsprop, RmspropUpdate);

}  // namespace
}  // namespace dl::cuda
