// y = exp(x - max) / sum(exp(x - max)) over the last axis;  dx = y * (dy - sum(dy * y, last, keepdims))
#include "ops/kernel_util.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) {
    if (c.in(0).rank() < 1) c.fail("needs at least one axis, got a scalar");
    return {c.in(0)};
}
void cpu(KernelCtx & k) {
    const MatrixMap x = k.in(0).matrix();
    MatrixMap y = k.out().matrix();
    for (int64_t r = 0; r < x.rows(); ++r) {
        const float m = x.row(r).maxCoeff();
        y.row(r) = (x.row(r).array() - m).exp();
        y.row(r) /= y.row(r).sum();
    }
}
std::vector<Value> grad(GradCtx & g) {
    Value y = g.out(), dy = g.dout();
    Value s = g.op("sum", {dy * y}, {{"axes", std::vector<int64_t>{-1}}, {"keepdims", int64_t{1}}});
    return {y * (dy - s)};
}
std::string onnx(OnnxCtx & c) { return c.add("Softmax", {c.in(0)}, {{"axis", int64_t{-1}}}); }
}  // namespace
DL_REGISTER_OP({.name = "softmax",
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{5}}, {{3, 4}}}, .low = -2.0f, .high = 2.0f},
                .activation = true,
                .onnx = onnx});
}  // namespace dl
