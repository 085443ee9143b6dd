// y = max(x, 0); dx = dy * step(y)
#include "ops/kernel_util.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
void cpu(KernelCtx & k) {
    unary_map(k, [](float x) { return x > 0.0f ? x : 0.0f; });
}
std::vector<Value> grad(GradCtx & g) { return {g.dout() * g.op("step", {g.out()})}; }
std::string onnx(OnnxCtx & c) { return c.add("Relu", {c.in(0)}); }
}  // namespace
DL_REGISTER_OP({.name = "relu",
                .infer = infer_same,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{7}}, {{3, 5}}}, .kink = 0.0f, .has_kink = true},
                .activation = true,
                .onnx = onnx});
}  // namespace dl
