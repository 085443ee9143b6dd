// dx = max_pool2d's gradient: each dy[n, i, j, c] added to x at the first maximum of its window (row-major),
// summed where windows overlap; attrs as max_pool2d. Linear in dy, constant in x almost everywhere: d(dy) =
// max_pool2d_grad_grad(x, ddx), the adjoint; no gradient flows to x. With relu_input = 1 (set by the fusion
// pass) only maxima above 0 pass their dy on.
#include <algorithm>

#include "ops/pool_util.h"

namespace dl {
namespace {

OutInfo infer(ShapeCtx & c) {
    const OutInfo pooled = find_op("max_pool2d")->infer(c);  // checks x and the attributes
    if (c.in(1) != pooled.shape)
        c.fail("dy must have the pooled shape {} of x {}, got {}", to_string(pooled.shape),
               to_string(c.in(0)), to_string(c.in(1)));
    return {c.in(0)};
}

void cpu(KernelCtx & k) {
    const Pool2d p = pool2d(k.in(0).shape, k.in(1).shape, k.attrs());
    const float *px = k.in(0).f32(), *pdy = k.in(1).f32();
    float * pdx = k.out().f32();
    // Set by the fusion pass for where_positive(max_pool2d_grad(x, dy), x): x is a relu's output, and the
    // relu's backward step is folded in here.
    const bool relu_input = k.attrs().get_int("relu_input") != 0;
    // One task per image: overlapping windows add into the same dx, so an image's sums stay in one task, in
    // window order, whatever the thread count.
    auto image = [&](int64_t n) {
        const float * xn = px + n * p.h * p.w * p.c;
        float * dxn = pdx + n * p.h * p.w * p.c;
        std::fill(dxn, dxn + p.h * p.w * p.c, 0.0f);
        for (int64_t i = 0; i < p.oh; ++i) {
            const int64_t r = i * p.sh - p.top, r0 = std::max<int64_t>(r, 0), r1 = std::min(r + p.ph, p.h);
            for (int64_t j = 0; j < p.ow; ++j) {
                const int64_t q = j * p.sw - p.left, q0 = std::max<int64_t>(q, 0),
                              q1 = std::min(q + p.pw, p.w);
                const float * dy = pdy + ((n * p.oh + i) * p.ow + j) * p.c;
                for (int64_t c0 = 0; c0 < p.c; c0 += kPoolBlock) {
                    const int64_t m = std::min(kPoolBlock, p.c - c0);
                    float best[kPoolBlock];
                    int32_t at[kPoolBlock];
                    window_argmax(p, xn, r0, r1, q0, q1, c0, m, best, at);
                    // The fused relu backward: a maximum that is not positive came out of the relu as 0.
                    if (relu_input)
                        for (int64_t ch = 0; ch < m; ++ch) at[ch] = best[ch] > 0.0f ? at[ch] : -1;
                    // A masked add over the window rather than a scatter through `at`: contiguous, so it
                    // vectorises.
                    for (int64_t a = r0; a < r1; ++a)
                        for (int64_t b = q0; b < q1; ++b) {
                            const int32_t s = static_cast<int32_t>(a * p.w + b);
                            float * __restrict d = dxn + s * p.c + c0;
                            for (int64_t ch = 0; ch < m; ++ch) d[ch] += at[ch] == s ? dy[c0 + ch] : 0.0f;
                        }
                }
            }
        }
    };
    if (k.out().numel() > kChunk)
        k.pool.parallel_for(p.n, image);
    else
        for (int64_t n = 0; n < p.n; ++n) image(n);
}

std::vector<Value> grad(GradCtx & g) {
    return {Value{}, g.op("max_pool2d_grad_grad", {g.in(0), g.dout()}, g.attrs())};
}
}  // namespace
DL_REGISTER_OP({.name = "max_pool2d_grad",
                .arity = 2,
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{1, 4, 5, 2}, {1, 4, 5, 2}}, {{2, 3, 3, 1}, {2, 3, 3, 1}}},
                         .attrs = {{"pool", std::vector<int64_t>{3, 2}},
                                   {"strides", std::vector<int64_t>{1, 1}},
                                   {"padding", std::string("same")}},
                         .has_kink = true}});
}  // namespace dl
