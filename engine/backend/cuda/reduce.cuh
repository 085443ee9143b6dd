// Reductions over a set of axes (sum, mean, sum_to, max), in double and in the CPU's order: each output folds
// its inputs in row-major order of the reduced axes, as reduce_kernel in ops/kernel_util.h does.
//   bool reduced[kMaxRank] = {...};  cuda::reduce_sum(a, reduced, /*mean=*/false);  cuda::reduce_max(a,
//   reduced);
#pragma once

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

// Everything into one value: one block, double partial sums in a fixed order.
__global__ inline void reduce_all_kernel(const float * __restrict__ x, float * __restrict__ y, int64_t n,
                                         double divisor) {
    __shared__ double partial[1024];
    double sum = 0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) sum += x[i];
    partial[threadIdx.x] = sum;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) y[0] = static_cast<float>(partial[0] / divisor);
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

inline void reduce_sum(const Args & a, const bool * reduced, bool mean) {
    const Tensor & x = a.in[0];
    const int64_t nout = a.out.numel;
    if (nout == 0) return;
    const int64_t count = x.numel / nout;
    // The CPU's finish: a / n for a mean (0 for an empty one), the sum as it is otherwise.
    const double divisor = mean ? (count ? static_cast<double>(count) : INFINITY) : 1.0;
    if (nout == 1) {
        reduce_all_kernel<<<1, 1024, 0, a.stream>>>(x.f32(), a.out.f32(), x.numel, divisor);
        return;
    }
    reduce_outputs_kernel<<<blocks_for(nout), 256, 0, a.stream>>>(
        x.f32(), a.out.f32(), nout, reduce_layout(x, reduced), 0.0, divisor, SumFold{});
}

// One thread per output (a full max is small work for one thread next to a GEMM).
inline void reduce_max(const Args & a, const bool * reduced) {
    const int64_t nout = a.out.numel;
    if (nout == 0) return;
    reduce_outputs_kernel<<<blocks_for(nout), 256, 0, a.stream>>>(
        a.in[0].f32(), a.out.f32(), nout, reduce_layout(a.in[0], reduced), -INFINITY, 1.0, MaxFold{});
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
