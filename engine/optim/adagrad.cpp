// adagrad: acc += g^2; p -= lr g / (sqrt(acc) + eps), the accumulator starting at initial_accumulator, as
// Keras' Adagrad.
#include <cmath>

#include "optim/update_math.h"

namespace dl {
namespace {

std::vector<OptimizerSlot> slots(const OptimizerSpec & o) {
    return {{.name = "accumulator", .initial = o.initial_accumulator}};
}

void update(const UpdateRule & rule, const OptimizerTensor & x, int64_t begin, int64_t end, float clip_scale,
            double lr, double) {
    const PreparedGradient grad_at(rule, x, clip_scale);
    float *p = x.param, *acc = x.slot0;
    const float lr_f = static_cast<float>(lr);
    const float eps = static_cast<float>(rule.epsilon);
    for (int64_t i = begin; i < end; ++i) {
        const float g = grad_at(i);
        acc[i] += g * g;
        p[i] -= lr_f * g / (std::sqrt(acc[i]) + eps);
    }
}

DL_REGISTER_OPTIMIZER({.type = "adagrad",
                       .kind = UpdateKind::adagrad,
                       .keys = {{.name = "initial_accumulator",
                                 .number = &OptimizerSpec::initial_accumulator,
                                 .fallback = 0.1,
                                 .check = non_negative},
                                {.name = "epsilon",
                                 .number = &OptimizerSpec::epsilon,
                                 .fallback = 1e-7,
                                 .check = positive_finite}},
                       .slots = slots,
                       .update = update});

}  // namespace
}  // namespace dl
