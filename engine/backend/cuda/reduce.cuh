// Reductions over a set of axes (sum, mean, sum_to, max), accumulated in double. Deterministic: each output's
// inputs are folded in an order fixed by the shapes alone (the same on every run), though not the CPU's
// sequential one; in double the difference is far below float32's rounding.
//   bool reduced[kMaxRank] = {...};  cuda::reduce_sum(a, reduced, /*mean=*/false);  cuda::reduce_max(a,
//   reduced);
// Note [reduction shapes]: one thread per output would leave a GPU nearly idle where there are few outputs
// and many inputs each (a bias gradient: [1024, 4096] -> [4096]; a convolution's: [256, 26, 26, 32] -> [32]).
// So the reduced axes are classified first:
//   columns  all reduced axes before the kept ones, x is [R, K]: tiles of 32 columns by row ranges, whose
//            partial results a second pass folds in range order;
//   rows     all kept axes before the reduced ones, x is [K, R] (one output included): a warp per row, or
//            for long rows, blocks over ranges of a row and a second pass;
//   general  anything else, with few inputs per output: a thread per output.
#pragma once

#include <algorithm>

#include "backend/cuda/elementwise.cuh"

namespace dl::cuda {

struct ReduceLayout {
    int kept = 0, red = 0;
    int64_t kept_dims[kMaxRank] = {}, kept_strides[kMaxRank] = {};
    int64_t red_dims[kMaxRank] = {}, red_strides[kMaxRank] = {};
    int64_t red_count = 1;
};

// max's fold: a NaN wins, as on the CPU.
struct MaxFold {
    __device__ double operator()(double a, double x) const { return (x > a || x != x) ? x : a; }
};
struct SumFold {
    __device__ double operator()(double a, double x) const { return a + x; }
};

template <typename Fold>
__global__ void reduce_outputs_kernel(const float * __restrict__ x, float * __restrict__ y, int64_t nout,
                                      ReduceLayout l, double init, double divisor, Fold fold) {
    for (int64_t o = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; o < nout;
         o += int64_t{blockDim.x} * gridDim.x) {
        int64_t rem = o, base = 0;
        for (int d = l.kept - 1; d >= 0; --d) {
            base += (rem % l.kept_dims[d]) * l.kept_strides[d];
            rem /= l.kept_dims[d];
        }
        double acc = init;
        for (int64_t r = 0; r < l.red_count; ++r) {
            int64_t rr = r, off = base;
            for (int d = l.red - 1; d >= 0; --d) {
                off += (rr % l.red_dims[d]) * l.red_strides[d];
                rr /= l.red_dims[d];
            }
            acc = fold(acc, static_cast<double>(x[off]));
        }
        y[o] = static_cast<float>(acc / divisor);
    }
}

constexpr int kColumnTile = 32, kColumnLanes = 8;

// x[R, K] -> one value per (row range blockIdx.y, column): into y when there is one range, else into
// partial[range][K].
template <typename Fold>
__global__ void reduce_columns_kernel(const float * __restrict__ x, int64_t rows, int64_t cols,
                                      int64_t rows_per_range, double init, double divisor, Fold fold,
                                      double * __restrict__ partial, float * __restrict__ y) {
    __shared__ double lanes[kColumnLanes][kColumnTile + 1];
    const int64_t col = blockIdx.x * int64_t{kColumnTile} + threadIdx.x;
    const int64_t begin = blockIdx.y * rows_per_range;
    const int64_t end = begin + rows_per_range < rows ? begin + rows_per_range : rows;
    double acc = init;
    if (col < cols)
        for (int64_t r = begin + threadIdx.y; r < end; r += kColumnLanes)
            acc = fold(acc, static_cast<double>(x[r * cols + col]));
    lanes[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y != 0 || col >= cols) return;
    for (int j = 1; j < kColumnLanes; ++j) acc = fold(acc, lanes[j][threadIdx.x]);
    if (gridDim.y == 1)
        y[col] = static_cast<float>(acc / divisor);
    else
        partial[blockIdx.y * cols + col] = acc;
}

// partial[ranges][n] -> y[n], folding the ranges in order.
template <typename Fold>
__global__ void reduce_partials_kernel(const double * __restrict__ partial, int64_t ranges, int64_t n,
                                       double init, double divisor, Fold fold, float * __restrict__ y) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{blockDim.x} * gridDim.x) {
        double acc = init;
        for (int64_t s = 0; s < ranges; ++s) acc = fold(acc, partial[s * n + i]);
        y[i] = static_cast<float>(acc / divisor);
    }
}

// x[K, R] -> y[K], a warp per row; lane 0's butterfly result is the row's (the same order on every run).
template <typename Fold>
__global__ void reduce_rows_warp_kernel(const float * __restrict__ x, int64_t rows, int64_t len, double init,
                                        double divisor, Fold fold, float * __restrict__ y) {
    const int lane = threadIdx.x & 31;
    const int64_t warps = int64_t{gridDim.x} * (blockDim.x >> 5);
    for (int64_t row = blockIdx.x * int64_t{blockDim.x >> 5} + (threadIdx.x >> 5); row < rows; row += warps) {
        double acc = init;
        for (int64_t i = lane; i < len; i += 32) acc = fold(acc, static_cast<double>(x[row * len + i]));
        for (int o = 16; o > 0; o >>= 1) acc = fold(acc, __shfl_xor_sync(0xffffffffu, acc, o));
        if (lane == 0) y[row] = static_cast<float>(acc / divisor);
    }
}

// x[K, R] with long rows: block (range blockIdx.x, row blockIdx.y) folds its range into partial[range][row].
template <typename Fold>
__global__ void reduce_rows_block_kernel(const float * __restrict__ x, int64_t len, int64_t per_range,
                                         double init, Fold fold, double * __restrict__ partial) {
    __shared__ double warps[32];
    const int64_t row = blockIdx.y;
    const int64_t begin = blockIdx.x * per_range;
    const int64_t end = begin + per_range < len ? begin + per_range : len;
    double acc = init;
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
        acc = fold(acc, static_cast<double>(x[row * len + i]));
    for (int o = 16; o > 0; o >>= 1) acc = fold(acc, __shfl_xor_sync(0xffffffffu, acc, o));
    if ((threadIdx.x & 31) == 0) warps[threadIdx.x >> 5] = acc;
    __syncthreads();
    if (threadIdx.x != 0) return;
    for (int w = 1; w < static_cast<int>(blockDim.x >> 5); ++w) acc = fold(acc, warps[w]);
    partial[blockIdx.x * int64_t{gridDim.y} + row] = acc;
}

inline ReduceLayout reduce_layout(const Tensor & x, const bool * reduced) {
    ReduceLayout l;
    int64_t stride = 1;
    int64_t strides[kMaxRank];
    for (int d = x.rank - 1; d >= 0; --d) {
        strides[d] = stride;
        stride *= x.dims[d];
    }
    for (int d = 0; d < x.rank; ++d) {
        if (reduced[d]) {
            l.red_dims[l.red] = x.dims[d];
            l.red_strides[l.red++] = strides[d];
            l.red_count *= x.dims[d];
        } else {
            l.kept_dims[l.kept] = x.dims[d];
            l.kept_strides[l.kept++] = strides[d];
        }
    }
    return l;
}

enum class ReduceShape { columns, rows, general };

// Note [reduction shapes]. Axes of extent 1 belong to either side.
inline ReduceShape classify(const Tensor & x, const bool * reduced, int64_t nout) {
    if (nout == 1) return ReduceShape::rows;
    bool seen_kept = false, seen_reduced = false, reduced_after_kept = false, kept_after_reduced = false;
    for (int d = 0; d < x.rank; ++d) {
        if (x.dims[d] == 1) continue;
        if (reduced[d]) {
            seen_reduced = true;
            reduced_after_kept |= seen_kept;
        } else {
            seen_kept = true;
            kept_after_reduced |= seen_reduced;
        }
    }
    if (!reduced_after_kept) return ReduceShape::columns;
    if (!kept_after_reduced) return ReduceShape::rows;
    return ReduceShape::general;
}

template <typename Fold>
void reduce(const Args & a, const bool * reduced, double init, double divisor, Fold fold) {
    const float * x = a.in[0].f32();
    float * y = a.out.f32();
    const int64_t nout = a.out.numel;
    if (nout == 0) return;
    const int64_t count = a.in[0].numel / nout;  // inputs per output
    constexpr int64_t kBusyBlocks = 512;         // enough blocks to keep every multiprocessor busy
    switch (classify(a.in[0], reduced, nout)) {
        case ReduceShape::columns: {
            const int64_t tiles = (nout + kColumnTile - 1) / kColumnTile;
            int64_t ranges = std::min((kBusyBlocks + tiles - 1) / tiles, (count + 63) / 64);
            ranges = std::max<int64_t>(1, std::min<int64_t>(ranges, 1024));
            const int64_t per_range = std::max<int64_t>(1, (count + ranges - 1) / ranges);
            ranges = std::max<int64_t>(1, (count + per_range - 1) / per_range);
            double * partial = ranges > 1
                                   ? static_cast<double *>(scratch(a, static_cast<size_t>(ranges * nout) * 8))
                                   : nullptr;
            reduce_columns_kernel<<<dim3(static_cast<unsigned>(tiles), static_cast<unsigned>(ranges)),
                                    dim3(kColumnTile, kColumnLanes), 0, a.stream>>>(
                x, count, nout, per_range, init, divisor, fold, partial, y);
            if (ranges > 1)
                reduce_partials_kernel<<<blocks_for(nout), 256, 0, a.stream>>>(partial, ranges, nout, init,
                                                                               divisor, fold, y);
            return;
        }
        case ReduceShape::rows: {
            if (count < 4096 || nout >= kBusyBlocks) {
                reduce_rows_warp_kernel<<<blocks_for(nout * 32), 256, 0, a.stream>>>(x, nout, count, init,
                                                                                     divisor, fold, y);
                return;
            }
            int64_t ranges = std::min<int64_t>((kBusyBlocks + nout - 1) / nout, (count + 2047) / 2048);
            ranges = std::max<int64_t>(1, std::min<int64_t>(ranges, 1024));
            const int64_t per_range = (count + ranges - 1) / ranges;
            ranges = (count + per_range - 1) / per_range;
            auto * partial = static_cast<double *>(scratch(a, static_cast<size_t>(ranges * nout) * 8));
            reduce_rows_block_kernel<<<dim3(static_cast<unsigned>(ranges), static_cast<unsigned>(nout)), 256,
                                       0, a.stream>>>(x, count, per_range, init, fold, partial);
            reduce_partials_kernel<<<blocks_for(nout), 256, 0, a.stream>>>(partial, ranges, nout, init,
                                                                           divisor, fold, y);
            return;
        }
        case ReduceShape::general:
            reduce_outputs_kernel<<<blocks_for(nout), 256, 0, a.stream>>>(
                x, y, nout, reduce_layout(a.in[0], reduced), init, divisor, fold);
            return;
    }
}

inline void reduce_sum(const Args & a, const bool * reduced, bool mean) {
    const int64_t nout = a.out.numel;
    if (nout == 0) return;
    const int64_t count = a.in[0].numel / nout;
    // The CPU's finish: a / n for a mean (0 for an empty one), the sum as it is otherwise.
    const double divisor = mean ? (count ? static_cast<double>(count) : INFINITY) : 1.0;
    reduce(a, reduced, 0.0, divisor, SumFold{});
}

inline void reduce_max(const Args & a, const bool * reduced) {
    reduce(a, reduced, -INFINITY, 1.0, MaxFold{});
}

// The `axes` attribute as a mask (empty or absent: every axis).
inline void reduced_axes(const Args & a, bool * reduced) {
    int64_t axes[kMaxRank];
    const int n = attr_ints(a, "axes", axes, kMaxRank);
    const int rank = a.in[0].rank;
    for (int d = 0; d < kMaxRank; ++d) reduced[d] = n <= 0 && d < rank;
    for (int i = 0; i < n && i < kMaxRank; ++i) reduced[axes[i] < 0 ? axes[i] + rank : axes[i]] = true;
}

}  // namespace dl::cuda
