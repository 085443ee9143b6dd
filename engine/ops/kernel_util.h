// Helpers shared by CPU kernels: parallel loops over fixed-size chunks, broadcasting, axis reductions.
//   unary_map(k, [](float x) { return x > 0 ? x : 0; });
//   binary_map(k, [](float a, float b) { return a + b; });          // numpy broadcasting
//   reduce_axes(x, axes, keepdims)                                     // shape of a reduction
#pragma once

#include <array>
#include <cmath>
#include <span>
#include <vector>

#include "graph/op.h"

namespace dl {

// Elements per parallel chunk: fixed, so results never depend on the thread count.
inline constexpr int64_t kChunk = 1 << 15;
inline constexpr int kMaxRank = 8;

template <typename F>
void parallel_chunks(ThreadPool & pool, int64_t n, F && body) {  // body(begin, end)
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    if (chunks <= 1) {
        body(int64_t{0}, n);
        return;
    }
    pool.parallel_for(chunks, [&](int64_t c) { body(c * kChunk, std::min(n, (c + 1) * kChunk)); });
}

template <typename F>
void unary_map(KernelCtx & k, F && f) {
    const float * x = k.in(0).f32();
    float * y = k.out().f32();
    parallel_chunks(k.pool, k.out().numel(), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) y[i] = f(x[i]);
    });
}

// Row-major strides of `shape` aligned right against a broadcast output (0 on broadcast axes).
using Strides = std::array<int64_t, kMaxRank>;
Strides broadcast_strides(const Shape & shape, const Shape & out);

// A set of axes without heap allocation (kernels run in the training step, which must not allocate).
struct AxisList {
    std::array<int, kMaxRank> axes{};
    int count = 0;
    void push_back(int a) { axes[static_cast<size_t>(count++)] = a; }
    const int * begin() const { return axes.data(); }
    const int * end() const { return axes.data() + count; }
    size_t size() const { return static_cast<size_t>(count); }
    bool empty() const { return count == 0; }
    operator std::vector<int>() const { return {begin(), end()}; }
};

template <typename F>
void binary_map(KernelCtx & k, F && f) {
    const TensorView &a = k.in(0), &b = k.in(1);
    TensorView & y = k.out();
    const float *pa = a.f32(), *pb = b.f32();
    float * py = y.f32();
    const int64_t n = y.numel();
    if (a.shape == y.shape && b.shape == y.shape) {
        parallel_chunks(k.pool, n, [&](int64_t s, int64_t e) {
            for (int64_t i = s; i < e; ++i) py[i] = f(pa[i], pb[i]);
        });
    } else if (b.numel() == 1 && a.shape == y.shape) {
        const float vb = pb[0];
        parallel_chunks(k.pool, n, [&](int64_t s, int64_t e) {
            for (int64_t i = s; i < e; ++i) py[i] = f(pa[i], vb);
        });
    } else if (a.numel() == 1 && b.shape == y.shape) {
        const float va = pa[0];
        parallel_chunks(k.pool, n, [&](int64_t s, int64_t e) {
            for (int64_t i = s; i < e; ++i) py[i] = f(va, pb[i]);
        });
    } else if (a.shape == y.shape && b.shape.rank() >= 1 && b.numel() == y.shape[y.shape.rank() - 1] &&
               b.shape[b.shape.rank() - 1] == b.numel()) {
        // A row vector ([n] or [1, n]) broadcast over leading axes: the bias case. A column [n, 1] against
        // [n, n] has as many values but broadcasts the other way, so it takes the general path.
        const int64_t cols = b.numel();
        parallel_chunks(k.pool, n, [&](int64_t s, int64_t e) {
            for (int64_t i = s; i < e; ++i) py[i] = f(pa[i], pb[i % cols]);
        });
    } else {
        const Strides sa = broadcast_strides(a.shape, y.shape), sb = broadcast_strides(b.shape, y.shape);
        const int rank = y.shape.rank();
        parallel_chunks(k.pool, n, [&](int64_t s, int64_t e) {
            for (int64_t i = s; i < e; ++i) {
                int64_t rem = i, ia = 0, ib = 0;
                for (int d = rank - 1; d >= 0; --d) {
                    const int64_t idx = rem % y.shape[d];
                    rem /= y.shape[d];
                    ia += idx * sa[static_cast<size_t>(d)];
                    ib += idx * sb[static_cast<size_t>(d)];
                }
                py[i] = f(pa[ia], pb[ib]);
            }
        });
    }
}

OutInfo infer_broadcast(ShapeCtx & c);  // output shape of a broadcasting binary op
OutInfo infer_same(ShapeCtx & c);       // output shape = input 0's

// Axes of a reduction from the `axes` attribute (empty = all), normalised and sorted; fails on bad axes.
AxisList reduction_axes(ShapeCtx & c);
AxisList reduction_axes(const Shape & in, const Attrs & attrs);
Shape reduced_shape(const Shape & in, std::span<const int> axes, bool keepdims);
OutInfo infer_reduction(ShapeCtx & c);  // sum, mean, max: `axes` (empty = all) and `keepdims`

// Generic reduction: out[j] = combine over the reduced elements of in, in a fixed order.
// `init` starts each output; `acc(a, x)` folds; `fin(a, count)` finishes.
template <typename Acc, typename Fin>
void reduce_kernel(KernelCtx & k, std::span<const int> axes, double init, Acc && acc, Fin && fin) {
    const TensorView & x = k.in(0);
    const Shape & s = x.shape;
    const int rank = s.rank();
    DL_ASSERT(rank <= kMaxRank);
    bool reduced[kMaxRank] = {};
    for (int a : axes) reduced[a] = true;
    // Output strides in terms of the input's axes (0 on reduced axes).
    int64_t ostride[kMaxRank] = {};
    int64_t st = 1;
    for (int d = rank - 1; d >= 0; --d) {
        if (!reduced[d]) {
            ostride[d] = st;
            st *= s[d];
        }
    }
    const int64_t nout = k.out().numel(), nin = x.numel();
    const int64_t count = nout == 0 ? 0 : nin / nout;
    const float * px = x.f32();
    float * py = k.out().f32();
    if (nout == 1) {  // full reduction: one accumulator in double, in element order
        double a = init;
        for (int64_t i = 0; i < nin; ++i) a = acc(a, static_cast<double>(px[i]));
        py[0] = static_cast<float>(fin(a, count));
        return;
    }
    // Accumulate in the output itself (no scratch allocation in the training step), in element order.
    for (int64_t o = 0; o < nout; ++o) py[o] = static_cast<float>(init);
    for (int64_t i = 0; i < nin; ++i) {
        int64_t rem = i, o = 0;
        for (int d = rank - 1; d >= 0; --d) {
            o += (rem % s[d]) * ostride[d];
            rem /= s[d];
        }
        py[o] = static_cast<float>(acc(static_cast<double>(py[o]), static_cast<double>(px[i])));
    }
    for (int64_t o = 0; o < nout; ++o) py[o] = static_cast<float>(fin(static_cast<double>(py[o]), count));
}

}  // namespace dl
