// y = (x - mean) * gamma / sqrt(var + epsilon) + beta with given per-channel statistics (last axis): Keras
// BatchNormalization in inference.   x [..., C], gamma, beta, mean, var [C] -> [..., C];  attr epsilon (1e-3)
// With s = 1 / sqrt(var + eps): dx = dy gamma s, dgamma = dy (x - mean) s, dbeta = dy, dmean = -dx,
// dvar = -dy (x - mean) gamma s³ / 2  (autodiff sums the per-element terms down to [C])
#include "ops/norm_stats.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) {
    check_per_channel(c, {{1, "gamma"}, {2, "beta"}, {3, "mean"}, {4, "variance"}});
    return {c.in(0)};
}

// Per-channel scales are computed once per block of channels and row block, on the stack: no workspace, and
// no division or square root per element.
constexpr int64_t kGroup = 256;

void cpu(KernelCtx & k) {
    const TensorView & xv = k.in(0);
    const int64_t C = xv.shape[xv.shape.rank() - 1];
    if (xv.numel() == 0) return;
    const int64_t rows = xv.numel() / C;
    const float *x = xv.f32(), *gamma = k.in(1).f32(), *beta = k.in(2).f32(), *mean = k.in(3).f32(),
                *var = k.in(4).f32();
    float * y = k.out().f32();
    const double eps = k.attrs().get_float("epsilon", kNormEpsilon);
    const int64_t rb = std::max<int64_t>(1, kChunk / C), blocks = (rows + rb - 1) / rb;
    auto body = [&](int64_t b) {
        const int64_t r0 = b * rb, r1 = std::min(rows, r0 + rb);
        for (int64_t c0 = 0; c0 < C; c0 += kGroup) {
            const int64_t w = std::min(kGroup, C - c0);
            float scale[kGroup];
            for (int64_t j = 0; j < w; ++j)
                scale[j] = static_cast<float>(static_cast<double>(gamma[c0 + j]) /
                                              std::sqrt(static_cast<double>(var[c0 + j]) + eps));
            for (int64_t r = r0; r < r1; ++r) {
                const float * __restrict xr = x + r * C + c0;
                float * __restrict yr = y + r * C + c0;
                for (int64_t j = 0; j < w; ++j) yr[j] = (xr[j] - mean[c0 + j]) * scale[j] + beta[c0 + j];
            }
        }
    };
    if (blocks > 1)
        k.pool.parallel_for(blocks, body);
    else
        body(0);
}

std::vector<Value> grad(GradCtx & g) {
    const Value x = g.in(0), gamma = g.in(1), dy = g.dout();
    const Value s =
        1.0f / g.op("sqrt", {g.in(4) + static_cast<float>(g.attrs().get_float("epsilon", kNormEpsilon))});
    const Value dx = dy * (gamma * s);
    const Value dy_xc = dy * (x - g.in(3));
    return {dx, dy_xc * s, dy, -dx, dy_xc * (gamma * s * s * s * -0.5f)};
}
// In ONNX as the kernel computes it: (x - mean) * scale + beta over the last axis, the per-channel
// scale = gamma / sqrt(var + epsilon) folded at export (in double, as the kernel) when gamma, var are known.
std::string onnx(OnnxCtx & c) {
    const double eps = c.attrs().get_float("epsilon", kNormEpsilon);
    const Tensor *gamma = c.in_value(1), *var = c.in_value(4);
    std::string scale;
    if (gamma && var) {
        Tensor s(gamma->shape());
        for (int64_t j = 0; j < s.numel(); ++j)
            s.f32()[j] = static_cast<float>(static_cast<double>(gamma->f32()[j]) /
                                            std::sqrt(static_cast<double>(var->f32()[j]) + eps));
        scale = c.initializer(s);
    } else {
        Tensor e(Shape{});
        e.f32()[0] = static_cast<float>(eps);
        const std::string root = c.add("Sqrt", {c.add("Add", {c.in(4), c.initializer(e)})});
        scale = c.add("Div", {c.in(1), root});
    }
    const std::string centered = c.add("Sub", {c.in(0), c.in(3)});
    return c.add("Add", {c.add("Mul", {centered, scale}), c.in(2)});
}
}  // namespace
DL_REGISTER_OP({.name = "batch_norm",
                .arity = 5,
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{6, 3}, {3}, {3}, {3}, {3}}, {{2, 2, 2, 4}, {4}, {4}, {4}, {4}}},
                         .attrs = {{"epsilon", 1e-3}},
                         .low = 0.1f,
                         .high = 1.0f},
                .onnx = onnx});
}  // namespace dl
