// The fused optimizer update (optimizer.cu): Optimizer::step's arithmetic over every parameter in a few
// launches, recorded with the rest of the training step. Plain data only: the backend translates
// OptimizerUpdate into it.
#pragma once

#include "backend/cuda/kernel.h"

namespace dl::cuda {

enum class OptimizerType : int { sgd, adam, adamw, rmsprop, adagrad };
constexpr int kOptimizerTypes = 5;

struct OptimizerRule {
    OptimizerType type = OptimizerType::adam;
    float momentum = 0, beta_1 = 0.9f, beta_2 = 0.999f, epsilon = 1e-7f, rho = 0.9f, weight_decay = 0;
    bool nesterov = false;
    bool decoupled_weight_decay = false;  // adamw: applied to the weights, not added to the gradient
    double clip_global_norm = 0;
    float clip_value = 0;
};

struct OptimizerSlice {
    float * param;
    const float * grad;
    float * slot0;
    float * slot1;
    int64_t size;
    void * param_bf16;  // the parameter's bfloat16 copy (Note [bf16 operands]), rewritten with it; or null
};

// Device scratch the update needs for `tensors` (per-block partial sums and a few scalars), in bytes.
size_t optimizer_scratch_bytes(const OptimizerSlice * tensors, int count);

// Whether engine/optim/<type>.cu registered the type's update (optimizer_update.cuh).
bool has_optimizer_update(OptimizerType type);

// Writes the global gradient norm (before clipping) to norm_out, then, when it is finite, updates every
// tensor with lr and t from `step`.
void launch_optimizer(const OptimizerRule & rule, const OptimizerSlice * tensors, int count, float * norm_out,
                      void * scratch, const StepScalars * step, cudaStream_t stream);

}  // namespace dl::cuda
