// adam's and adamw's fused update on the GPU: optim/adam.cpp's arithmetic (backend/cuda/optimizer_update.cuh).
// AdamW is Adam with rule.decoupled_weight_decay, as on the host.
#include "backend/cuda/optimizer_update.cuh"

namespace dl::cuda {
namespace {

struct AdamUpdate {
    __device__ static void apply(const OptimizerRule & rule, const Scalars & s, const OptimizerSlice & x,
                                 int64_t i, float g) {
        float *p = x.param, *m = x.slot0, *v = x.slot1;
        if (rule.decoupled_weight_decay && rule.weight_decay > 0) p[i] -= s.lr * rule.weight_decay * p[i];
        m[i] += (g - m[i]) * (1.0f - rule.beta_1);
        v[i] += (g * g - v[i]) * (1.0f - rule.beta_2);
        p[i] -= s.lr_t * m[i] / (sqrtf(v[i]) + rule.epsilon);
    }
};

DL_REGISTER_CUDA_OPTIMIZER(OptimizerType::adam, AdamUpdate);
DL_REGISTER_CUDA_OPTIMIZER(OptimizerType::adamw, AdamUpdate);

}  // namespace
}  // namespace dl::cuda
