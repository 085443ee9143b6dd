// y = x + b with b a vector over the last axis.   [..., n] + [n] -> [..., n];  dx = dy, db = sum of dy over
// rows
#include "ops/kernel_util.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) {
    const Shape &x = c.in(0), &b = c.in(1);
    if (b.rank() != 1 || x.rank() < 1 || x[x.rank() - 1] != b[0])
        c.fail("bias {} does not match the last axis of {}", to_string(b), to_string(x));
    return {x};
}
void cpu(KernelCtx & k) {
    binary_map(k, [](float a, float b) { return a + b; });
}
std::vector<Value> grad(GradCtx & g) { return {g.dout(), g.dout()}; }
std::string onnx(OnnxCtx & c) { return c.add("Add", {c.in(0), c.in(1)}); }
}  // namespace
DL_REGISTER_OP({.name = "bias_add",
                .arity = 2,
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{3, 4}, {4}}, {{2, 3, 5}, {5}}}},
                .onnx = onnx});
}  // namespace dl
