// adam: Keras' Adam, lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t); p -= lr_t * m / (sqrt(v) + eps).
#include <Eigen/Core>
#include <cmath>

#include "optim/update_math.h"
#include "spec/optimizer_def.h"

namespace dl {

void adam_update(const UpdateRule & rule, const OptimizerTensor & x, int64_t begin, int64_t end,
                 float clip_scale, double lr, double t) {
    const PreparedGradient grad_at(rule, x, clip_scale);
    float *p = x.param, *m = x.slot0, *v = x.slot1;
    const float lr_f = static_cast<float>(lr);
    const float wd = static_cast<float>(rule.weight_decay);
    const float b1 = static_cast<float>(rule.beta_1), b2 = static_cast<float>(rule.beta_2);
    const float lr_t =
        static_cast<float>(lr * std::sqrt(1.0 - std::pow(rule.beta_2, t)) / (1.0 - std::pow(rule.beta_1, t)));
    const float eps = static_cast<float>(rule.epsilon);
    const bool decoupled = rule.decoupled_weight_decay && wd > 0;
    if (rule.clip_value == 0 && (wd == 0 || decoupled)) {
        // The common case as whole-array expressions, which the compiler vectorises (same formulas as below).
        using Array = Eigen::Map<Eigen::ArrayXf>;
        const int64_t len = end - begin;
        Array pa(p + begin, len), ma(m + begin, len), va(v + begin, len);
        const auto g = Eigen::Map<const Eigen::ArrayXf>(x.grad + begin, len) * clip_scale;
        if (decoupled) pa -= lr_f * wd * pa;
        ma += (g - ma) * (1.0f - b1);
        va += (g * g - va) * (1.0f - b2);
        pa -= lr_t * ma / (va.sqrt() + eps);
        return;
    }
    for (int64_t i = begin; i < end; ++i) {
        const float g = grad_at(i);
        if (decoupled) p[i] -= lr_f * wd * p[i];
        m[i] += (g - m[i]) * (1.0f - b1);
        v[i] += (g * g - v[i]) * (1.0f - b2);
        p[i] -= lr_t * m[i] / (std::sqrt(v[i]) + eps);
    }
}

std::vector<OptimizerKey> adam_keys() {
    return {
        {.name = "beta_1",
         .number = &OptimizerSpec::beta_1,
         .fallback = 0.9,
         .check = in_unit_interval_open_right},
        {.name = "beta_2",
         .number = &OptimizerSpec::beta_2,
         .fallback = 0.999,
         .check = in_unit_interval_open_right},
        {.name = "epsilon", .number = &OptimizerSpec::epsilon, .fallback = 1e-7, .check = positive_finite}};
}

std::vector<OptimizerSlot> adam_slots(const OptimizerSpec &) { return {{.name = "m"}, {.name = "v"}}; }

namespace {

DL_REGISTER_OPTIMIZER({.type = "adam",
                       .kind = UpdateKind::adam,
                       .keys = adam_keys(),
                       .slots = adam_slots,
                       .update = adam_update});

}  // namespace
}  // namespace dl
