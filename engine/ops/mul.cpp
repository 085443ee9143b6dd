// y = a * b (broadcasting); da = dy * b, db = dy * a
#include "ops/kernel_util.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
void cpu(KernelCtx & k) {
    binary_map(k, [](float a, float b) { return a * b; });
}
std::vector<Value> grad(GradCtx & g) { return {g.dout() * g.in(1), g.dout() * g.in(0)}; }
std::string onnx(OnnxCtx & c) { return c.add("Mul", {c.in(0), c.in(1)}); }
}  // namespace
DL_REGISTER_OP({.name = "mul",
                .arity = 2,
                .infer = infer_broadcast,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{2, 3}, {}}}},
                .onnx = onnx});
}  // namespace dl
