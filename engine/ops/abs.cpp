// y = |x|
#include "ops/kernel_util.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
void cpu(KernelCtx & k) {
    unary_map(k, [](float x) { return std::fabs(x); });
}
// dx = dy * (2 * step(x) - 1); at 0 that picks -1, a valid subgradient
std::vector<Value> grad(GradCtx & g) { return {g.dout() * (2.0f * g.op("step", {g.in(0)}) - 1.0f)}; }
std::string onnx(OnnxCtx & c) { return c.add("Abs", {c.in(0)}); }
}  // namespace
DL_REGISTER_OP({.name = "abs",
                .infer = infer_same,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{7}}, {{3, 5}}}, .kink = 0.0f, .has_kink = true},
                .onnx = onnx});
}  // namespace dl
