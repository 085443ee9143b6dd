// y[0] = mean and y[1] = biased variance of each channel (last axis) over all other axes: the statistics
// batch_norm_train normalises with, bit for bit, for the trainer's moving averages.   x [..., C] -> [2, C]
// dx = (dmean + 2 dvar (x - mean)) / n  (the mean's own dependence on x cancels: Σ(x - mean) = 0)
#include "ops/norm_stats.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) {
    const Shape & x = c.in(0);
    if (x.rank() < 1) c.fail("expects an input with a feature axis, got a scalar");
    return {Shape{2, x[x.rank() - 1]}};
}

size_t workspace_bytes(int64_t rows, int64_t C) {  // block partial sums, then the statistics of each channel
    return (channel_stats_partials(rows, C, 2) + 2 * static_cast<size_t>(C)) * sizeof(double);
}
size_t workspace(ShapeCtx & c, int) {
    const int64_t C = c.in(0)[c.in(0).rank() - 1];
    return workspace_bytes(C == 0 ? 0 : c.in(0).numel() / C, C);
}

void cpu(KernelCtx & k) {
    const int64_t C = k.out().shape[1];
    const int64_t rows = C == 0 ? 0 : k.in(0).numel() / C;
    const float * x = k.in(0).f32();
    float * y = k.out().f32();
    auto write = [&](const double * stats, int64_t c0, int64_t w) {
        for (int64_t j = 0; j < w; ++j) {
            y[c0 + j] = static_cast<float>(stats[j]);
            y[C + c0 + j] = static_cast<float>(stats[w + j]);
        }
    };
    if (k.workspace != nullptr && k.workspace_bytes >= workspace_bytes(rows, C)) {
        auto * partials = reinterpret_cast<double *>(k.workspace);
        double * stats = partials + channel_stats_partials(rows, C, 2);
        channel_stats(k.pool, x, nullptr, rows, C, 0, C, partials, stats);
        write(stats, 0, C);
        return;
    }
    for (int64_t c0 = 0; c0 < C; c0 += kStatGroup) {  // no scratch memory: a group of channels at a time
        const int64_t w = std::min(kStatGroup, C - c0);
        double stats[2 * kStatGroup];
        channel_stats(k.pool, x, nullptr, rows, C, c0, w, nullptr, stats);
        write(stats, c0, w);
    }
}

std::vector<Value> grad(GradCtx & g) {
    const Value x = g.in(0), y = g.out(), dy = g.dout();
    const int64_t C = y.shape()[1];
    const float n = static_cast<float>(x.shape().numel() / std::max<int64_t>(1, C));
    auto row = [&](Value v, int64_t r) {  // [1, C]: broadcasts against x's rows
        return g.op("slice", {v},
                    {{"begin", std::vector<int64_t>{r, 0}}, {"size", std::vector<int64_t>{1, -1}}});
    };
    return {(row(dy, 0) + row(dy, 1) * (x - row(y, 0)) * 2.0f) * (1.0f / n)};
}
}  // namespace
DL_REGISTER_OP({.name = "moments",
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .workspace = workspace,
                .test = {.cases = {{{5, 3}}, {{2, 2, 3}}, {{4}}}}});
}  // namespace dl
