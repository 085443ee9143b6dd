// y = x - max - log(sum(exp(x - max))) over the last axis: shifting by the row max keeps exp from
// overflowing, so inputs like 1000 stay finite. The row sum is taken in double, in element order.
#include "ops/kernel_util.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) {
    if (c.in(0).rank() < 1) c.fail("needs at least one axis, got a scalar");
    if (c.in(0)[c.in(0).rank() - 1] == 0) c.fail("the last axis of {} is empty", to_string(c.in(0)));
    return {c.in(0)};
}
void cpu(KernelCtx & k) {
    const MatrixMap x = k.in(0).matrix();
    MatrixMap y = k.out().matrix();
    for (int64_t r = 0; r < x.rows(); ++r) {
        const float m = x.row(r).maxCoeff();
        double s = 0;
        for (int64_t c = 0; c < x.cols(); ++c) s += std::exp(static_cast<double>(x(r, c) - m));
        const double log_s =
            std::log(s);  // subtracted after the max, not added to it: m = 1000 keeps its digits
        for (int64_t c = 0; c < x.cols(); ++c)
            y(r, c) = static_cast<float>(static_cast<double>(x(r, c) - m) - log_s);
    }
}
// dx = dy - exp(y) * sum(dy, last, keepdims)
std::vector<Value> grad(GradCtx & g) {
    Value dy = g.dout();
    Value s = g.op("sum", {dy}, {{"axes", std::vector<int64_t>{-1}}, {"keepdims", int64_t{1}}});
    return {dy - g.op("exp", {g.out()}) * s};
}
std::string onnx(OnnxCtx & c) { return c.add("LogSoftmax", {c.in(0)}, {{"axis", int64_t{-1}}}); }
}  // namespace
DL_REGISTER_OP({.name = "log_softmax",
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{5}}, {{3, 4}}}, .low = -2.0f, .high = 2.0f},
                .activation = true,
                .onnx = onnx});
}  // namespace dl
