// y = ln(x); x <= 0 gives -inf or NaN as in numpy (losses clip before they take a log).
#include "ops/kernel_util.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
void cpu(KernelCtx & k) {
    unary_map(k, [](float x) { return std::log(x); });
}
// dx = dy / x
std::vector<Value> grad(GradCtx & g) { return {g.dout() / g.in(0)}; }
std::string onnx(OnnxCtx & c) { return c.add("Log", {c.in(0)}); }
}  // namespace
DL_REGISTER_OP({.name = "log",
                .infer = infer_same,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{7}}, {{3, 5}}}, .low = 0.5f, .high = 2.0f},
                .onnx = onnx});
}  // namespace dl
