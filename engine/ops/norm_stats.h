// Statistics shared by the normalisation ops. One copy of the code computes them for every op, so moments
// (which feeds the trainer's moving averages) matches what batch_norm_train normalised with, bit for bit.
//   channel_stats(pool, x, nullptr, rows, C, 0, C, partials, out);  // out: mean[C], var[C] over the rows of
//   x row_moments(x_row, D, mean, var);                                 // one row, for layer_norm
#pragma once

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <utility>

#include "ops/kernel_util.h"
#include "ops/row_moments.h"

namespace dl {

inline constexpr double kNormEpsilon = 1e-3;  // Keras' default for BatchNormalization and LayerNormalization

// Every input named in `per_channel` must be a vector as long as the last axis of input 0.
inline void check_per_channel(ShapeCtx & c, std::initializer_list<std::pair<int, const char *>> per_channel) {
    const Shape & x = c.in(0);
    if (x.rank() < 1) c.fail("expects an input with a feature axis, got a scalar");
    for (const auto & [i, name] : per_channel)
        if (c.in(i).rank() != 1 || c.in(i)[0] != x[x.rank() - 1])
            c.fail("{} {} does not match the last axis of {}", name, to_string(c.in(i)), to_string(x));
}

// Channel statistics of x viewed as [rows, C]. The rows are summed in blocks whose size depends on the shape
// only (Note [determinism]): each block from zero in row order, then the block sums in block order. The block
// count is capped, which bounds the scratch memory for large tensors.
inline constexpr int64_t kStatBlocksMax = 128;
inline constexpr int64_t kStatGroup = 64;  // channels per pass when the caller has no scratch memory

struct StatBlocks {
    int64_t rows_per_block = 1, count = 0;
};
inline StatBlocks stat_blocks(int64_t rows, int64_t channels) {
    const int64_t rb = std::max(
        {int64_t{1}, kChunk / std::max<int64_t>(1, channels), (rows + kStatBlocksMax - 1) / kStatBlocksMax});
    return {rb, (rows + rb - 1) / rb};
}
// Doubles of scratch for channel_stats over all C channels: `kinds` = 2 for x alone, 4 with dy.
inline size_t channel_stats_partials(int64_t rows, int64_t channels, int kinds) {
    return static_cast<size_t>(stat_blocks(rows, channels).count * kinds * channels);
}

// Sums over rows [r0, r1) for channels [c0, c0 + w) into acc (kinds * w): Σd, Σd², and with dy also Σdy,
// Σdy·d, where d = x - x[0, c]. Shifting by a sample of the channel keeps E[d²] - E[d]² accurate when the
// mean is large against the spread. Not inlined: every caller runs the same machine code, so the rounding is
// the same.
[[gnu::noinline]] inline void channel_block_sums(const float * x, const float * dy, int64_t C, int64_t r0,
                                                 int64_t r1, int64_t c0, int64_t w, double * acc) {
    const float * shift = x + c0;
    double * __restrict s = acc;
    double * __restrict q = acc + w;
    std::fill(s, s + w, 0.0);
    std::fill(q, q + w, 0.0);
    if (dy == nullptr) {
        // Four rows per sweep load and store the accumulators a quarter as often; the order of additions is
        // fixed.
        int64_t r = r0;
        for (; r + 4 <= r1; r += 4) {
            const float * __restrict xr = x + r * C + c0;
            for (int64_t j = 0; j < w; ++j) {
                const double sh = static_cast<double>(shift[j]);
                const double d0 = static_cast<double>(xr[j]) - sh, d1 = static_cast<double>(xr[C + j]) - sh;
                const double d2 = static_cast<double>(xr[2 * C + j]) - sh,
                             d3 = static_cast<double>(xr[3 * C + j]) - sh;
                s[j] += (d0 + d1) + (d2 + d3);
                q[j] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3);
            }
        }
        for (; r < r1; ++r) {
            const float * __restrict xr = x + r * C + c0;
            for (int64_t j = 0; j < w; ++j) {
                const double d = static_cast<double>(xr[j]) - static_cast<double>(shift[j]);
                s[j] += d;
                q[j] += d * d;
            }
        }
        return;
    }
    double * __restrict sg = acc + 2 * w;
    double * __restrict sgd = acc + 3 * w;
    std::fill(sg, sg + w, 0.0);
    std::fill(sgd, sgd + w, 0.0);
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        const float * __restrict xr = x + r * C + c0;
        const float * __restrict gr = dy + r * C + c0;
        for (int64_t j = 0; j < w; ++j) {
            const double sh = static_cast<double>(shift[j]);
            const double d0 = static_cast<double>(xr[j]) - sh, d1 = static_cast<double>(xr[C + j]) - sh;
            const double d2 = static_cast<double>(xr[2 * C + j]) - sh,
                         d3 = static_cast<double>(xr[3 * C + j]) - sh;
            const double g0 = gr[j], g1 = gr[C + j], g2 = gr[2 * C + j], g3 = gr[3 * C + j];
            s[j] += (d0 + d1) + (d2 + d3);
            q[j] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3);
            sg[j] += (g0 + g1) + (g2 + g3);
            sgd[j] += (g0 * d0 + g1 * d1) + (g2 * d2 + g3 * d3);
        }
    }
    for (; r < r1; ++r) {
        const float * __restrict xr = x + r * C + c0;
        const float * __restrict gr = dy + r * C + c0;
        for (int64_t j = 0; j < w; ++j) {
            const double d = static_cast<double>(xr[j]) - static_cast<double>(shift[j]);
            const double g = gr[j];
            s[j] += d;
            q[j] += d * d;
            sg[j] += g;
            sgd[j] += g * d;
        }
    }
}

// For channels [c0, c0 + w) of x [rows, C] (and dy [rows, C] when given): out[0, w) the mean, out[w, 2w) the
// biased variance, and with dy out[2w, 3w) Σdy and out[3w, 4w) Σdy·(x - mean). With `partials`
// (channel_stats_partials doubles) the row blocks run in parallel; without, they run in turn (then w <=
// kStatGroup), to the same sums.
[[gnu::noinline]] inline void channel_stats(ThreadPool & pool, const float * x, const float * dy,
                                            int64_t rows, int64_t C, int64_t c0, int64_t w, double * partials,
                                            double * out) {
    const int kinds = dy ? 4 : 2;
    const int64_t width = kinds * w;
    std::fill(out, out + width, 0.0);
    if (rows == 0 || w == 0) return;
    const StatBlocks blocks = stat_blocks(rows, C);
    auto block = [&](int64_t b, double * acc) {
        const int64_t r0 = b * blocks.rows_per_block;
        channel_block_sums(x, dy, C, r0, std::min(rows, r0 + blocks.rows_per_block), c0, w, acc);
    };
    if (partials != nullptr) {
        if (blocks.count > 1)
            pool.parallel_for(blocks.count, [&](int64_t b) { block(b, partials + b * width); });
        else
            block(0, partials);
        for (int64_t b = 0; b < blocks.count; ++b)
            for (int64_t i = 0; i < width; ++i) out[i] += partials[b * width + i];
    } else {
        DL_ASSERT(w <= kStatGroup);
        double acc[4 * kStatGroup];
        for (int64_t b = 0; b < blocks.count; ++b) {
            block(b, acc);
            for (int64_t i = 0; i < width; ++i) out[i] += acc[i];
        }
    }
    const double n = static_cast<double>(rows);
    for (int64_t j = 0; j < w; ++j) {
        const double m = out[j] / n;  // the mean of d
        out[j] = static_cast<double>(x[c0 + j]) + m;
        out[w + j] = std::max(0.0, out[w + j] / n - m * m);
        if (dy) out[3 * w + j] -= m * out[2 * w + j];
    }
}

}  // namespace dl
