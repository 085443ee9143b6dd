// y = -x; dx = -dy
#include "ops/kernel_util.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
void cpu(KernelCtx & k) {
    unary_map(k, [](float x) { return -x; });
}
std::vector<Value> grad(GradCtx & g) { return {-g.dout()}; }
std::string onnx(OnnxCtx & c) { return c.add("Neg", {c.in(0)}); }
}  // namespace
DL_REGISTER_OP({.name = "neg",
                .infer = infer_same,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{7}}, {{3, 5}}}},
                .onnx = onnx});
}  // namespace dl
