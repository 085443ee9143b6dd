// y = exp(x)
#include "ops/kernel_util.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
void cpu(KernelCtx & k) {
    unary_map(k, [](float x) { return std::exp(x); });
}
// dx = dy * y
std::vector<Value> grad(GradCtx & g) { return {g.dout() * g.out()}; }
std::string onnx(OnnxCtx & c) { return c.add("Exp", {c.in(0)}); }
}  // namespace
DL_REGISTER_OP({.name = "exp",
                .infer = infer_same,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{7}}, {{3, 5}}}},
                .onnx = onnx});
}  // namespace dl
