// sgd's fused update on the GPU: optim/sgd.cpp's arithmetic (backend/cuda/optimizer_update.cuh).
#include "backend/cuda/optimizer_update.cuh"

namespace dl::cuda {
namespace {

struct SgdUpdate {
    __device__ static void apply(const OptimizerRule & rule, const Scalars & s, const OptimizerSlice & x,
                                 int64_t i, float g) {
        float * p = x.param;
        if (float * v = x.slot0) {
            v[i] = rule.momentum * v[i] - s.lr * g;
            p[i] += rule.nesterov ? rule.momentum * v[i] - s.lr * g : v[i];
        } else {
            p[i] -= s.lr * g;
        }
    }
};

DL_REGISTER_CUDA_OPTIMIZER(OptimizerType::sgd, SgdUpdate);

}  // namespace
}  // namespace dl::cuda
