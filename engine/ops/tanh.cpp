// y = tanh(x), with Eigen's tanh as fused_dense uses it, so fusing matmul -> bias_add -> tanh changes no bit.
#include "ops/kernel_util.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
void cpu(KernelCtx & k) {
    const float * x = k.in(0).f32();
    float * y = k.out().f32();
    parallel_chunks(k.pool, k.out().numel(), [&](int64_t b, int64_t e) {
        ArrayMap(y + b, e - b) = Eigen::Map<const Eigen::ArrayXf>(x + b, e - b).tanh();
    });
}
// dx = dy * (1 - y^2)
std::vector<Value> grad(GradCtx & g) {
    Value y = g.out();
    return {g.dout() * (1.0f - y * y)};
}
std::string onnx(OnnxCtx & c) { return c.add("Tanh", {c.in(0)}); }
}  // namespace
DL_REGISTER_OP({.name = "tanh",
                .infer = infer_same,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{7}}, {{3, 5}}}, .low = -2.0f, .high = 2.0f},
                .activation = true,
                .onnx = onnx});
}  // namespace dl
