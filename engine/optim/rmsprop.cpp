// rmsprop: r = rho r + (1 - rho) g^2; p -= lr g / (sqrt(r) + eps), with optional momentum on the step, as
// Keras' RMSprop.
#include <cmath>

#include "optim/update_math.h"

namespace dl {
namespace {

std::vector<OptimizerSlot> slots(const OptimizerSpec & o) {
    if (o.momentum > 0) return {{.name = "rms"}, {.name = "momentum"}};
    return {{.name = "rms"}};
}

void update(const UpdateRule & rule, const OptimizerTensor & x, int64_t begin, int64_t end, float clip_scale,
            double lr, double) {
    const PreparedGradient grad_at(rule, x, clip_scale);
    float *p = x.param, *r = x.slot0, *v = x.slot1;
    const float lr_f = static_cast<float>(lr);
    const float rho = static_cast<float>(rule.rho), eps = static_cast<float>(rule.epsilon);
    const float mu = static_cast<float>(rule.momentum);
    for (int64_t i = begin; i < end; ++i) {
        const float g = grad_at(i);
        r[i] = rho * r[i] + (1.0f - rho) * g * g;
        const float step = lr_f * g / (std::sqrt(r[i]) + eps);
        if (v) {
            v[i] = mu * v[i] + step;
            p[i] -= v[i];
        } else {
            p[i] -= step;
        }
    }
}

DL_REGISTER_OPTIMIZER(
    {.type = "rmsprop",
     .kind = UpdateKind::rmsprop,
     .keys =
         {{.name = "rho",
           .number = &OptimizerSpec::rho,
           .fallback = 0.9,
           .check = in_unit_interval_open_right},
          {.name = "momentum", .number = &OptimizerSpec::momentum, .check = in_unit_interval_open_right},
          {.name = "epsilon", .number = &OptimizerSpec::epsilon, .fallback = 1e-7, .check = positive_finite}},
     .slots = slots,
     .update = update});

}  // namespace
}  // namespace dl
