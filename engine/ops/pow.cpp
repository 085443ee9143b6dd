// y = a^b (broadcasting)
#include "ops/kernel_util.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
void cpu(KernelCtx & k) {
    binary_map(k, [](float a, float b) { return std::pow(a, b); });
}
// da = dy * b * a^(b-1), db = dy * y * log(a) where a > 0, else 0 (as TensorFlow: x^2 at x < 0 has no NaN)
std::vector<Value> grad(GradCtx & g) {
    Value a = g.in(0), b = g.in(1), dy = g.dout();
    Value da = dy * (b * g.op("pow", {a, b - 1.0f}));
    Value pos = g.op("step", {a});
    Value safe_a = a * pos + (1.0f - pos);  // exactly a where a > 0, 1 (log 0) elsewhere
    Value db = dy * (g.out() * g.op("log", {safe_a}));
    return {da, db};
}
std::string onnx(OnnxCtx & c) { return c.add("Pow", {c.in(0), c.in(1)}); }
}  // namespace
DL_REGISTER_OP({.name = "pow",
                .arity = 2,
                .infer = infer_broadcast,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{2, 3}, {}}}, .low = 0.5f, .high = 2.0f},
                .onnx = onnx});
}  // namespace dl
