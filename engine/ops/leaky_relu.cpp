// y = x for x > 0, alpha * x otherwise (Keras default alpha = 0.3)
#include "ops/kernel_util.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
float alpha_of(const Attrs & a) { return static_cast<float>(a.get_float("alpha", 0.3)); }
void cpu(KernelCtx & k) {
    const float alpha = alpha_of(k.attrs());
    unary_map(k, [alpha](float x) { return x > 0.0f ? x : alpha * x; });
}
// dx = dy * (alpha + (1 - alpha) * step(x))
std::vector<Value> grad(GradCtx & g) {
    const float alpha = alpha_of(g.attrs());
    return {g.dout() * (alpha + (1.0f - alpha) * g.op("step", {g.in(0)}))};
}
// ONNX's default alpha is 0.01, Keras' 0.3: always written out.
std::string onnx(OnnxCtx & c) {
    return c.add("LeakyRelu", {c.in(0)}, {{"alpha", static_cast<double>(alpha_of(c.attrs()))}});
}
}  // namespace
DL_REGISTER_OP({.name = "leaky_relu",
                .infer = infer_same,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{7}}, {{3, 5}}}, .kink = 0.0f, .has_kink = true},
                .activation = true,
                .onnx = onnx});
}  // namespace dl
