// What the optimizers' host updates (engine/optim/<type>.cpp) share: the gradient as every update first
// prepares it. Their device twins apply the same steps (backend/cuda/optimizer_update.cuh).
#pragma once

#include <algorithm>
#include <cstdint>

#include "backend/backend.h"
#include "spec/optimizer_def.h"

namespace dl {

// The raw gradient scaled by the global-norm clip, clipped by value, and with the L2 weight decay added
// unless the optimizer decays the weights itself (AdamW).
struct PreparedGradient {
    const float * grad;
    const float * param;
    float clip_scale, clip_value, weight_decay;
    bool add_decay;

    PreparedGradient(const UpdateRule & rule, const OptimizerTensor & x, float scale)
        : grad(x.grad),
          param(x.param),
          clip_scale(scale),
          clip_value(static_cast<float>(rule.clip_value)),
          weight_decay(static_cast<float>(rule.weight_decay)),
          add_decay(weight_decay > 0 && !rule.decoupled_weight_decay) {}

    float operator()(int64_t i) const {
        float g = grad[i] * clip_scale;
        if (clip_value > 0) g = std::clamp(g, -clip_value, clip_value);
        if (add_decay) g += weight_decay * param[i];
        return g;
    }
};

// Adam's keys, slots and update, which AdamW shares (engine/optim/adam.cpp).
std::vector<OptimizerKey> adam_keys();
std::vector<OptimizerSlot> adam_slots(const OptimizerSpec &);
void adam_update(const UpdateRule & rule, const OptimizerTensor & x, int64_t begin, int64_t end,
                 float clip_scale, double lr, double t);

}  // namespace dl
