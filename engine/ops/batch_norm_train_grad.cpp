// dx of batch_norm_train: dx = gamma * rstd / n * (n dy - Σdy - xhat Σ(dy xhat)), xhat = (x - mean) * rstd,
// rstd = 1 / sqrt(var + epsilon), sums over the n rows.   x [..., C], gamma [C], dy [..., C] -> [..., C] A
// backward op only: no gradient rule (second derivatives of batch norm are not needed); tests/unit checks it.
#include "ops/norm_stats.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) {
    check_per_channel(c, {{1, "gamma"}});
    if (c.in(2) != c.in(0)) c.fail("dy {} does not match x {}", to_string(c.in(2)), to_string(c.in(0)));
    return {c.in(0)};
}

// Block partial sums, then the four statistics (double) and four coefficients (float) of each channel.
size_t workspace_bytes(int64_t rows, int64_t C) {
    return (channel_stats_partials(rows, C, 4) + 4 * static_cast<size_t>(C)) * sizeof(double) +
           4 * static_cast<size_t>(C) * sizeof(float);
}
size_t workspace(ShapeCtx & c, int) {
    const int64_t C = c.in(0)[c.in(0).rank() - 1];
    return workspace_bytes(C == 0 ? 0 : c.in(0).numel() / C, C);
}

// Per channel: dx = g (dy - mdy) - (x - mean) h with g = gamma rstd, mdy = Σdy / n, h = g rstd² Σdy(x - mean)
// / n.
struct Coef {
    float *mean, *g, *mdy, *h;
};
[[gnu::noinline]] void coefficients(const double * stats, const float * gamma, double eps, int64_t rows,
                                    int64_t w, Coef c) {
    const double n = static_cast<double>(rows);
    for (int64_t j = 0; j < w; ++j) {
        const double rstd = 1.0 / std::sqrt(stats[w + j] + eps), g = static_cast<double>(gamma[j]) * rstd;
        c.mean[j] = static_cast<float>(stats[j]);
        c.g[j] = static_cast<float>(g);
        c.mdy[j] = static_cast<float>(stats[2 * w + j] / n);
        c.h[j] = static_cast<float>(g * rstd * rstd * stats[3 * w + j] / n);
    }
}

[[gnu::noinline]] void apply(const float * x, const float * dy, float * dx, int64_t C, int64_t r0, int64_t r1,
                             int64_t c0, int64_t w, Coef c) {
    for (int64_t r = r0; r < r1; ++r) {
        const float * __restrict xr = x + r * C + c0;
        const float * __restrict gr = dy + r * C + c0;
        float * __restrict out = dx + r * C + c0;
        for (int64_t j = 0; j < w; ++j) out[j] = c.g[j] * (gr[j] - c.mdy[j]) - (xr[j] - c.mean[j]) * c.h[j];
    }
}

void cpu(KernelCtx & k) {
    const TensorView & xv = k.in(0);
    const int64_t C = xv.shape[xv.shape.rank() - 1];
    if (xv.numel() == 0) return;
    const int64_t rows = xv.numel() / C;
    const float *x = xv.f32(), *gamma = k.in(1).f32(), *dy = k.in(2).f32();
    float * dx = k.out().f32();
    const double eps = k.attrs().get_float("epsilon", kNormEpsilon);
    if (k.workspace != nullptr && k.workspace_bytes >= workspace_bytes(rows, C)) {
        auto * partials = reinterpret_cast<double *>(k.workspace);
        double * stats = partials + channel_stats_partials(rows, C, 4);
        auto * f = reinterpret_cast<float *>(stats + 4 * C);
        const Coef c{f, f + C, f + 2 * C, f + 3 * C};
        channel_stats(k.pool, x, dy, rows, C, 0, C, partials, stats);
        coefficients(stats, gamma, eps, rows, C, c);
        const int64_t rb = std::max<int64_t>(1, kChunk / C), blocks = (rows + rb - 1) / rb;
        auto body = [&](int64_t b) { apply(x, dy, dx, C, b * rb, std::min(rows, (b + 1) * rb), 0, C, c); };
        if (blocks > 1)
            k.pool.parallel_for(blocks, body);
        else
            body(0);
        return;
    }
    // No scratch memory (constant folding, a kernel run outside an executor): a group of channels at a time.
    for (int64_t c0 = 0; c0 < C; c0 += kStatGroup) {
        const int64_t w = std::min(kStatGroup, C - c0);
        double stats[4 * kStatGroup];
        float f[4 * kStatGroup];
        const Coef c{f, f + kStatGroup, f + 2 * kStatGroup, f + 3 * kStatGroup};
        channel_stats(k.pool, x, dy, rows, C, c0, w, nullptr, stats);
        coefficients(stats, gamma + c0, eps, rows, w, c);
        apply(x, dy, dx, C, 0, rows, c0, w, c);
    }
}
}  // namespace
DL_REGISTER_OP({.name = "batch_norm_train_grad",
                .arity = 3,
                .infer = infer,
                .cpu = cpu,
                .workspace = workspace,
                .test = {.skip = true}});
}  // namespace dl
