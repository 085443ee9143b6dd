// y = (x - mean) / sqrt(var + epsilon) * gamma + beta, mean and biased var per channel (last axis) over all
// other axes: Keras BatchNormalization in training.   x [..., C], gamma [C], beta [C] -> [..., C];  attr
// epsilon (1e-3) dx = batch_norm_train_grad(x, gamma, dy);  dgamma = batch_norm_train_grad_gamma(x, dy);
// dbeta = sum of dy over rows
#include "ops/norm_stats.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) {
    check_per_channel(c, {{1, "gamma"}, {2, "beta"}});
    return {c.in(0)};
}

// Block partial sums, then mean and variance (double) and mean and scale (float) of each channel.
size_t workspace_bytes(int64_t rows, int64_t C) {
    return (channel_stats_partials(rows, C, 2) + 2 * static_cast<size_t>(C)) * sizeof(double) +
           2 * static_cast<size_t>(C) * sizeof(float);
}
size_t workspace(ShapeCtx & c, int) {
    const int64_t C = c.in(0)[c.in(0).rank() - 1];
    return workspace_bytes(C == 0 ? 0 : c.in(0).numel() / C, C);
}

// From mean and variance (stats, 2w doubles) to the float mean and scale gamma / sqrt(var + eps) of each
// channel.
[[gnu::noinline]] void coefficients(const double * stats, const float * gamma, double eps, int64_t w,
                                    float * mean, float * scale) {
    for (int64_t j = 0; j < w; ++j) {
        mean[j] = static_cast<float>(stats[j]);
        scale[j] = static_cast<float>(static_cast<double>(gamma[j]) / std::sqrt(stats[w + j] + eps));
    }
}

// Rows [r0, r1) of channels [c0, c0 + w). Subtracting the mean before scaling keeps y accurate when the mean
// is large.
[[gnu::noinline]] void normalise(const float * x, const float * beta, float * y, int64_t C, int64_t r0,
                                 int64_t r1, int64_t c0, int64_t w, const float * mean, const float * scale) {
    for (int64_t r = r0; r < r1; ++r) {
        const float * __restrict xr = x + r * C + c0;
        float * __restrict yr = y + r * C + c0;
        for (int64_t j = 0; j < w; ++j) yr[j] = (xr[j] - mean[j]) * scale[j] + beta[c0 + j];
    }
}

void cpu(KernelCtx & k) {
    const TensorView & xv = k.in(0);
    const int64_t C = xv.shape[xv.shape.rank() - 1];
    if (xv.numel() == 0) return;
    const int64_t rows = xv.numel() / C;
    const float *x = xv.f32(), *gamma = k.in(1).f32(), *beta = k.in(2).f32();
    float * y = k.out().f32();
    const double eps = k.attrs().get_float("epsilon", kNormEpsilon);
    if (k.workspace != nullptr && k.workspace_bytes >= workspace_bytes(rows, C)) {
        auto * partials = reinterpret_cast<double *>(k.workspace);
        double * stats = partials + channel_stats_partials(rows, C, 2);
        auto * mean = reinterpret_cast<float *>(stats + 2 * C);
        float * scale = mean + C;
        channel_stats(k.pool, x, nullptr, rows, C, 0, C, partials, stats);
        coefficients(stats, gamma, eps, C, mean, scale);
        const int64_t rb = std::max<int64_t>(1, kChunk / C), blocks = (rows + rb - 1) / rb;
        auto body = [&](int64_t b) {
            normalise(x, beta, y, C, b * rb, std::min(rows, (b + 1) * rb), 0, C, mean, scale);
        };
        if (blocks > 1)
            k.pool.parallel_for(blocks, body);
        else
            body(0);
        return;
    }
    // No scratch memory (constant folding, a kernel run outside an executor): the same arithmetic, a group of
    // channels at a time, in one thread.
    for (int64_t c0 = 0; c0 < C; c0 += kStatGroup) {
        const int64_t w = std::min(kStatGroup, C - c0);
        double stats[2 * kStatGroup];
        float mean[kStatGroup], scale[kStatGroup];
        channel_stats(k.pool, x, nullptr, rows, C, c0, w, nullptr, stats);
        coefficients(stats, gamma + c0, eps, w, mean, scale);
        normalise(x, beta, y, C, 0, rows, c0, w, mean, scale);
    }
}

std::vector<Value> grad(GradCtx & g) {
    const Attrs eps{{"epsilon", g.attrs().get_float("epsilon", kNormEpsilon)}};
    const Value x = g.in(0), dy = g.dout();
    return {g.op("batch_norm_train_grad", {x, g.in(1), dy}, eps),
            g.op("batch_norm_train_grad_gamma", {x, dy}, eps), dy};
}
}  // namespace
DL_REGISTER_OP({.name = "batch_norm_train",
                .arity = 3,
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .workspace = workspace,
                .test = {.cases = {{{6, 3}, {3}, {3}}, {{2, 3, 2, 4}, {4}, {4}}},
                         .attrs = {{"epsilon", 1e-3}}}});
}  // namespace dl
