// y = a / b (broadcasting); da = dy / b, db = -dy * y / b
#include "ops/kernel_util.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
void cpu(KernelCtx & k) {
    binary_map(k, [](float a, float b) { return a / b; });
}
std::vector<Value> grad(GradCtx & g) {
    Value b = g.in(1);
    return {g.dout() / b, -(g.dout() * g.out() / b)};
}
std::string onnx(OnnxCtx & c) { return c.add("Div", {c.in(0), c.in(1)}); }
}  // namespace
DL_REGISTER_OP({.name = "div",
                .arity = 2,
                .infer = infer_broadcast,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{3, 4}, {3, 4}}, {{3, 4}, {4}}}, .low = 0.5f, .high = 2.0f},
                .onnx = onnx});
}  // namespace dl
