// Channel statistics for the normalisation kernels, computed as ops/norm_stats.h computes them on the CPU: x
// viewed as [rows, C], shifted by its first row, summed in double over blocks of rows whose size depends on
// the shape only (stat_blocks), four rows per sweep, the block sums then added in block order. One thread per
// (block, channel) for the sums, one per channel to finish.
//   const double * stats = cuda::channel_stats(a, x, dy, rows, C);  // mean[C], var[C] (, Σdy[C],
//   Σdy·(x-mean)[C])
#pragma once

#include "backend/cuda/kernel.h"

namespace dl::cuda {

struct StatLayout {
    int64_t rows = 0, channels = 0, rows_per_block = 1, blocks = 0;
    int kinds = 2;  // 2: x alone; 4: with dy
};

inline StatLayout stat_layout(int64_t rows, int64_t channels, int kinds) {
    constexpr int64_t kChunk = 1 << 15, kBlocksMax = 128;  // ops/kernel_util.h, ops/norm_stats.h
    int64_t rb = kChunk / (channels > 0 ? channels : 1);
    if (rb < 1) rb = 1;
    if ((rows + kBlocksMax - 1) / kBlocksMax > rb) rb = (rows + kBlocksMax - 1) / kBlocksMax;
    return {rows, channels, rb, (rows + rb - 1) / rb, kinds};
}

__global__ inline void block_sums_kernel(const float * __restrict__ x, const float * __restrict__ dy,
                                         StatLayout l, double * __restrict__ partials) {
    const int64_t C = l.channels;
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < l.blocks * C;
         i += int64_t{blockDim.x} * gridDim.x) {
        const int64_t b = i / C, c = i % C;
        const int64_t r0 = b * l.rows_per_block,
                      r1 = r0 + l.rows_per_block < l.rows ? r0 + l.rows_per_block : l.rows;
        const double sh = static_cast<double>(x[c]);
        double s = 0, q = 0, sg = 0, sgd = 0;
        int64_t r = r0;
        for (; r + 4 <= r1; r += 4) {
            const float * xr = x + r * C + c;
            const double d0 = static_cast<double>(xr[0]) - sh, d1 = static_cast<double>(xr[C]) - sh;
            const double d2 = static_cast<double>(xr[2 * C]) - sh, d3 = static_cast<double>(xr[3 * C]) - sh;
            s += (d0 + d1) + (d2 + d3);
            q += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3);
            if (dy) {
                const float * gr = dy + r * C + c;
                const double g0 = gr[0], g1 = gr[C], g2 = gr[2 * C], g3 = gr[3 * C];
                sg += (g0 + g1) + (g2 + g3);
                sgd += (g0 * d0 + g1 * d1) + (g2 * d2 + g3 * d3);
            }
        }
        for (; r < r1; ++r) {
            const double d = static_cast<double>(x[r * C + c]) - sh;
            s += d;
            q += d * d;
            if (dy) {
                const double g = dy[r * C + c];
                sg += g;
                sgd += g * d;
            }
        }
        double * out = partials + b * l.kinds * C + c;
        out[0] = s;
        out[C] = q;
        if (dy) {
            out[2 * C] = sg;
            out[3 * C] = sgd;
        }
    }
}

__global__ inline void stats_finish_kernel(const double * __restrict__ partials, const float * __restrict__ x,
                                           StatLayout l, double * __restrict__ stats) {
    const int64_t C = l.channels;
    for (int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; c < C;
         c += int64_t{blockDim.x} * gridDim.x) {
        double sum[4] = {0, 0, 0, 0};
        for (int64_t b = 0; b < l.blocks; ++b)
            for (int k = 0; k < l.kinds; ++k) sum[k] += partials[(b * l.kinds + k) * C + c];
        const double n = static_cast<double>(l.rows);
        const double m = sum[0] / n;  // the mean of x - x[0, c]
        stats[c] = static_cast<double>(x[c]) + m;
        const double var = sum[1] / n - m * m;
        stats[C + c] = var > 0.0 ? var : 0.0;
        if (l.kinds == 4) {
            stats[2 * C + c] = sum[2];
            stats[3 * C + c] = sum[3] - m * sum[2];
        }
    }
}

// The statistics in device scratch (kinds * C doubles, followed by `extra_floats` floats the caller may use
// for its coefficients, at the returned pointer + kinds * C).
inline double * channel_stats(const Args & a, const float * x, const float * dy, int64_t rows, int64_t C,
                              int64_t extra_floats = 0) {
    const StatLayout l = stat_layout(rows, C, dy ? 4 : 2);
    const size_t partial_doubles = static_cast<size_t>(l.blocks * l.kinds * C);
    const size_t bytes = (partial_doubles + static_cast<size_t>(l.kinds * C)) * sizeof(double) +
                         static_cast<size_t>(extra_floats) * sizeof(float);
    auto * partials = static_cast<double *>(scratch(a, bytes));
    double * stats = partials + partial_doubles;
    if (l.blocks > 0) block_sums_kernel<<<blocks_for(l.blocks * C), 256, 0, a.stream>>>(x, dy, l, partials);
    stats_finish_kernel<<<blocks_for(C), 256, 0, a.stream>>>(partials, x, l, stats);
    return stats;
}

}  // namespace dl::cuda
