// y = (x - mean) / sqrt(var + epsilon) * gamma + beta, mean and biased var of each row over the last axis:
// Keras LayerNormalization.   x [..., D], gamma [D], beta [D] -> [..., D];  attr epsilon (1e-3) dx =
// layer_norm_grad(x, gamma, dy);  dgamma = dy * xhat with xhat = layer_norm(x, 1, 0);  dbeta = dy
#include "ops/norm_stats.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) {
    check_per_channel(c, {{1, "gamma"}, {2, "beta"}});
    return {c.in(0)};
}

void cpu(KernelCtx & k) {
    const TensorView & xv = k.in(0);
    const int64_t D = xv.shape[xv.shape.rank() - 1];
    if (xv.numel() == 0) return;
    const int64_t rows = xv.numel() / D;
    const float *x = xv.f32(), *gamma = k.in(1).f32(), *beta = k.in(2).f32();
    float * y = k.out().f32();
    const double eps = k.attrs().get_float("epsilon", kNormEpsilon);
    const int64_t rb = std::max<int64_t>(1, kChunk / D), blocks = (rows + rb - 1) / rb;
    auto body = [&](int64_t b) {
        for (int64_t r = b * rb; r < std::min(rows, (b + 1) * rb); ++r) {
            const float * __restrict xr = x + r * D;
            float * __restrict yr = y + r * D;
            double mean, var;
            row_moments(xr, D, mean, var);
            const float m = static_cast<float>(mean), s = static_cast<float>(1.0 / std::sqrt(var + eps));
            for (int64_t j = 0; j < D; ++j) yr[j] = (xr[j] - m) * s * gamma[j] + beta[j];
        }
    };
    if (blocks > 1)
        k.pool.parallel_for(blocks, body);
    else
        body(0);
}

std::vector<Value> grad(GradCtx & g) {
    const Value x = g.in(0), dy = g.dout();
    const Attrs eps{{"epsilon", g.attrs().get_float("epsilon", kNormEpsilon)}};
    const int64_t D = x.shape()[x.shape().rank() - 1];
    Tensor ones(Shape{D});
    std::fill(ones.f32(), ones.f32() + D, 1.0f);
    const Value zeros = g.graph.constant(Tensor(Shape{D}));
    const Value xhat = g.op("layer_norm", {x, g.graph.constant(std::move(ones)), zeros}, eps);
    return {g.op("layer_norm_grad", {x, g.in(1), dy}, eps), dy * xhat, dy};
}
// LayerNormalization (opset 17) over the last axis; ONNX Runtime takes the moments in float, the kernel in
// double.
std::string onnx(OnnxCtx & c) {
    return c.add("LayerNormalization", {c.in(0), c.in(1), c.in(2)},
                 {{"axis", int64_t{-1}}, {"epsilon", c.attrs().get_float("epsilon", kNormEpsilon)}});
}
}  // namespace
DL_REGISTER_OP({.name = "layer_norm",
                .arity = 3,
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{4, 5}, {5}, {5}}, {{2, 3, 4}, {4}, {4}}}, .attrs = {{"epsilon", 1e-3}}},
                .onnx = onnx});
}  // namespace dl
