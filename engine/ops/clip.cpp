// y = min(max(x, min), max) with attributes `min` and `max`
#include "ops/kernel_util.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) {
    if (!c.attrs().has("min") || !c.attrs().has("max")) c.fail("needs both `min` and `max`");
    const double lo = c.attrs().get_float("min"), hi = c.attrs().get_float("max");
    if (!(lo <= hi)) c.fail("min ({}) must not exceed max ({})", lo, hi);
    return {c.in(0)};
}
void cpu(KernelCtx & k) {
    const float lo = static_cast<float>(k.attrs().get_float("min")),
                hi = static_cast<float>(k.attrs().get_float("max"));
    unary_map(k, [lo, hi](float x) { return std::min(std::max(x, lo), hi); });
}
// dx = dy * step(x - min) * step(max - x): no gradient where the value was clipped, as in TensorFlow
std::vector<Value> grad(GradCtx & g) {
    const float lo = static_cast<float>(g.attrs().get_float("min")),
                hi = static_cast<float>(g.attrs().get_float("max"));
    Value x = g.in(0);
    return {g.dout() * (g.op("step", {x - lo}) * g.op("step", {hi - x}))};
}
}  // namespace
DL_REGISTER_OP({.name = "clip",
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{7}}, {{3, 5}}},
                         .attrs = {{"min", -0.5}, {"max", 0.5}},
                         .kink = -0.5f,
                         .has_kink = true}});
}  // namespace dl
