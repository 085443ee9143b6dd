// dx of layer_norm, per row of D: dx = rstd * (g - mean(g) - xhat * mean(g xhat)) with g = gamma * dy,
// xhat = (x - mean) * rstd, rstd = 1 / sqrt(var + epsilon).   x [..., D], gamma [D], dy [..., D] -> [..., D]
// A backward op only: no gradient rule (second derivatives are not needed); tests/unit checks it.
#include "ops/norm_stats.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) {
    check_per_channel(c, {{1, "gamma"}});
    if (c.in(2) != c.in(0)) c.fail("dy {} does not match x {}", to_string(c.in(2)), to_string(c.in(0)));
    return {c.in(0)};
}

void cpu(KernelCtx & k) {
    const TensorView & xv = k.in(0);
    const int64_t D = xv.shape[xv.shape.rank() - 1];
    if (xv.numel() == 0) return;
    const int64_t rows = xv.numel() / D;
    const float *x = xv.f32(), *gamma = k.in(1).f32(), *dy = k.in(2).f32();
    float * dx = k.out().f32();
    const double eps = k.attrs().get_float("epsilon", kNormEpsilon);
    const int64_t rb = std::max<int64_t>(1, kChunk / D), blocks = (rows + rb - 1) / rb;
    auto body = [&](int64_t b) {
        for (int64_t r = b * rb; r < std::min(rows, (b + 1) * rb); ++r) {
            const float * __restrict xr = x + r * D;
            const float * __restrict gr = dy + r * D;
            float * __restrict out = dx + r * D;
            double mean, var;
            row_moments(xr, D, mean, var);
            const double rstd = 1.0 / std::sqrt(var + eps), n = static_cast<double>(D);
            const double sg = row_sum(D, [&](int64_t j) { return static_cast<double>(gamma[j]) * gr[j]; });
            const double sgx = row_sum(D, [&](int64_t j) {
                return static_cast<double>(gamma[j]) * gr[j] * (static_cast<double>(xr[j]) - mean);
            });
            // dx = rstd g - rstd mean(g) - (x - mean) rstd³ mean(g (x - mean))
            const float m = static_cast<float>(mean), s = static_cast<float>(rstd);
            const float a = static_cast<float>(rstd * sg / n),
                        h = static_cast<float>(rstd * rstd * rstd * sgx / n);
            for (int64_t j = 0; j < D; ++j) out[j] = s * gamma[j] * gr[j] - a - (xr[j] - m) * h;
        }
    };
    if (blocks > 1)
        k.pool.parallel_for(blocks, body);
    else
        body(0);
}
}  // namespace
DL_REGISTER_OP({.name = "layer_norm_grad", .arity = 3, .infer = infer, .cpu = cpu, .test = {.skip = true}});
}  // namespace dl
