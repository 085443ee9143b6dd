// y = x for x > 0, alpha * (exp(x) - 1) otherwise (Keras default alpha = 1); expm1 keeps small |x| exact.
#include "ops/kernel_util.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
float alpha_of(const Attrs & a) { return static_cast<float>(a.get_float("alpha", 1.0)); }
void cpu(KernelCtx & k) {
    const float alpha = alpha_of(k.attrs());
    unary_map(k, [alpha](float x) { return x > 0.0f ? x : alpha * std::expm1(x); });
}
// dx = dy * (s + (1 - s) * (y + alpha)), s = step(x): below 0, alpha * exp(x) is y + alpha
std::vector<Value> grad(GradCtx & g) {
    const float alpha = alpha_of(g.attrs());
    Value s = g.op("step", {g.in(0)});
    return {g.dout() * (s + (1.0f - s) * (g.out() + alpha))};
}
std::string onnx(OnnxCtx & c) {
    return c.add("Elu", {c.in(0)}, {{"alpha", static_cast<double>(alpha_of(c.attrs()))}});
}
}  // namespace
// alpha != 1 puts a kink at 0; the test's alpha keeps it, so the check must step around it.
DL_REGISTER_OP({.name = "elu",
                .infer = infer_same,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{7}}, {{3, 5}}},
                         .attrs = {{"alpha", 0.7}},
                         .low = -2.0f,
                         .high = 2.0f,
                         .kink = 0.0f,
                         .has_kink = true},
                .activation = true,
                .onnx = onnx});
}  // namespace dl
