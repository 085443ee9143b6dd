// y = sqrt(x)
#include "ops/kernel_util.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
void cpu(KernelCtx & k) {
    unary_map(k, [](float x) { return std::sqrt(x); });
}
// dx = dy * 0.5 / y
std::vector<Value> grad(GradCtx & g) { return {g.dout() * (0.5f / g.out())}; }
std::string onnx(OnnxCtx & c) { return c.add("Sqrt", {c.in(0)}); }
}  // namespace
DL_REGISTER_OP({.name = "sqrt",
                .infer = infer_same,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{7}}, {{3, 5}}}, .low = 0.5f, .high = 2.0f},
                .onnx = onnx});
}  // namespace dl
