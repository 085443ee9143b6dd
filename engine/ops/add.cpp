// y = a + b (broadcasting); da = dy, db = dy (un-broadcast centrally by autodiff)
#include "ops/kernel_util.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
void cpu(KernelCtx & k) {
    binary_map(k, [](float a, float b) { return a + b; });
}
std::vector<Value> grad(GradCtx & g) { return {g.dout(), g.dout()}; }
// ONNX broadcasts as numpy does (shapes aligned right), as binary_map does.
std::string onnx(OnnxCtx & c) { return c.add("Add", {c.in(0), c.in(1)}); }
}  // namespace
DL_REGISTER_OP({.name = "add",
                .arity = 2,
                .infer = infer_broadcast,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{2, 1, 3}, {4, 1}}, {{5}, {}}}},
                .onnx = onnx});
}  // namespace dl
