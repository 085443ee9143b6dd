// sgd: plain gradient descent, with Keras' momentum (velocity = momentum * velocity - lr * g) and Nesterov.
#include "optim/update_math.h"
#include "spec/optimizer_def.h"

namespace dl {
namespace {

std::vector<OptimizerSlot> slots(const OptimizerSpec & o) {
    if (o.momentum > 0) return {{.name = "momentum"}};
    return {};
}

void update(const UpdateRule & rule, const OptimizerTensor & x, int64_t begin, int64_t end, float clip_scale,
            double lr, double) {
    const PreparedGradient grad_at(rule, x, clip_scale);
    float * p = x.param;
    const float lr_f = static_cast<float>(lr);
    const float mu = static_cast<float>(rule.momentum);
    if (float * v = x.slot0) {
        for (int64_t i = begin; i < end; ++i) {
            const float g = grad_at(i);
            v[i] = mu * v[i] - lr_f * g;
            p[i] += rule.nesterov ? mu * v[i] - lr_f * g : v[i];
        }
    } else {
        for (int64_t i = begin; i < end; ++i) p[i] -= lr_f * grad_at(i);
    }
}

DL_REGISTER_OPTIMIZER(
    {.type = "sgd",
     .kind = UpdateKind::sgd,
     .lr = 0.01,
     .keys = {{.name = "momentum", .number = &OptimizerSpec::momentum, .check = in_unit_interval_open_right},
              {.name = "nesterov", .flag = &OptimizerSpec::nesterov}},
     .slots = slots,
     .update = update});

}  // namespace
}  // namespace dl
