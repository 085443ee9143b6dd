// dgamma of batch_norm_train: Σ over rows of dy * (x - mean) / sqrt(var + epsilon), with the batch statistics
// of x.
//   x [..., C], dy [..., C] -> [C];  one pass over x and dy.
// A backward op only: no gradient rule (second derivatives of batch norm are not needed); tests/unit checks
// it.
#include "ops/norm_stats.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) {
    const Shape & x = c.in(0);
    if (x.rank() < 1) c.fail("expects an input with a feature axis, got a scalar");
    if (c.in(1) != x) c.fail("dy {} does not match x {}", to_string(c.in(1)), to_string(x));
    return {Shape{x[x.rank() - 1]}};
}

size_t workspace_bytes(int64_t rows, int64_t C) {  // block partial sums, then the statistics of each channel
    return (channel_stats_partials(rows, C, 4) + 4 * static_cast<size_t>(C)) * sizeof(double);
}
size_t workspace(ShapeCtx & c, int) {
    const int64_t C = c.in(0)[c.in(0).rank() - 1];
    return workspace_bytes(C == 0 ? 0 : c.in(0).numel() / C, C);
}

void finish(const double * stats, double eps, int64_t w, float * out) {
    for (int64_t j = 0; j < w; ++j)
        out[j] = static_cast<float>(stats[3 * w + j] / std::sqrt(stats[w + j] + eps));
}

void cpu(KernelCtx & k) {
    const TensorView & xv = k.in(0);
    const int64_t C = k.out().numel();
    const int64_t rows = C == 0 ? 0 : xv.numel() / C;
    const float *x = xv.f32(), *dy = k.in(1).f32();
    float * out = k.out().f32();
    const double eps = k.attrs().get_float("epsilon", kNormEpsilon);
    if (k.workspace != nullptr && k.workspace_bytes >= workspace_bytes(rows, C)) {
        auto * partials = reinterpret_cast<double *>(k.workspace);
        double * stats = partials + channel_stats_partials(rows, C, 4);
        channel_stats(k.pool, x, dy, rows, C, 0, C, partials, stats);
        finish(stats, eps, C, out);
        return;
    }
    for (int64_t c0 = 0; c0 < C; c0 += kStatGroup) {  // no scratch memory: a group of channels at a time
        const int64_t w = std::min(kStatGroup, C - c0);
        double stats[4 * kStatGroup];
        channel_stats(k.pool, x, dy, rows, C, c0, w, nullptr, stats);
        finish(stats, eps, w, out + c0);
    }
}
}  // namespace
DL_REGISTER_OP({.name = "batch_norm_train_grad_gamma",
                .arity = 2,
                .infer = infer,
                .cpu = cpu,
                .workspace = workspace,
                .test = {.skip = true}});
}  // namespace dl
