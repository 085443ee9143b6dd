// y = 1 / (1 + exp(-x)). This form cannot produce NaN: for x < -88 exp(-x) overflows to inf and y is 0, its
// limit. It is the formula fused_dense uses (Eigen's vectorised exp on the same fixed chunks), so fusing
// matmul -> bias_add -> sigmoid changes no bit of the result.
#include "ops/kernel_util.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
void cpu(KernelCtx & k) {
    const float * x = k.in(0).f32();
    float * y = k.out().f32();
    parallel_chunks(k.pool, k.out().numel(), [&](int64_t b, int64_t e) {
        ArrayMap(y + b, e - b) = 1.0f / (1.0f + (-Eigen::Map<const Eigen::ArrayXf>(x + b, e - b)).exp());
    });
}
// dx = dy * y * (1 - y)
std::vector<Value> grad(GradCtx & g) {
    Value y = g.out();
    return {g.dout() * (y * (1.0f - y))};
}
std::string onnx(OnnxCtx & c) { return c.add("Sigmoid", {c.in(0)}); }
}  // namespace
DL_REGISTER_OP({.name = "sigmoid",
                .infer = infer_same,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{7}}, {{3, 5}}}, .low = -3.0f, .high = 3.0f},
                .activation = true,
                .onnx = onnx});
}  // namespace dl
