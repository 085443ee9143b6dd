// y[n, i, j, c] = g[n, at, c] where `at` is the first maximum (row-major) of x's window (i, j) in channel c;
// attrs as max_pool2d. The adjoint of max_pool2d_grad, so each is the other's gradient: d(g) =
// max_pool2d_grad(x, dy); the choice of `at` is constant in x almost everywhere, so no gradient flows to x.
#include <algorithm>

#include "ops/pool_util.h"

namespace dl {
namespace {

OutInfo infer(ShapeCtx & c) {
    const OutInfo pooled = find_op("max_pool2d")->infer(c);  // checks x and the attributes
    if (c.in(1) != c.in(0))
        c.fail("g must have the shape {} of x, got {}", to_string(c.in(0)), to_string(c.in(1)));
    return pooled;
}

void cpu(KernelCtx & k) {
    const Pool2d p = pool2d(k.in(0).shape, k.out().shape, k.attrs());
    const float *px = k.in(0).f32(), *pg = k.in(1).f32();
    float * py = k.out().f32();
    auto image = [&](int64_t n) {  // each image writes its own outputs: the same result at any thread count
        const float * xn = px + n * p.h * p.w * p.c;
        const float * gn = pg + n * p.h * p.w * p.c;
        for (int64_t i = 0; i < p.oh; ++i) {
            const int64_t r = i * p.sh - p.top, r0 = std::max<int64_t>(r, 0), r1 = std::min(r + p.ph, p.h);
            for (int64_t j = 0; j < p.ow; ++j) {
                const int64_t q = j * p.sw - p.left, q0 = std::max<int64_t>(q, 0),
                              q1 = std::min(q + p.pw, p.w);
                float * y = py + ((n * p.oh + i) * p.ow + j) * p.c;
                for (int64_t c0 = 0; c0 < p.c; c0 += kPoolBlock) {
                    const int64_t m = std::min(kPoolBlock, p.c - c0);
                    float best[kPoolBlock];
                    int32_t at[kPoolBlock];
                    window_argmax(p, xn, r0, r1, q0, q1, c0, m, best, at);
                    for (int64_t ch = 0; ch < m; ++ch) y[c0 + ch] = gn[at[ch] * p.c + c0 + ch];
                }
            }
        }
    };
    if (k.in(0).numel() > kChunk)
        k.pool.parallel_for(p.n, image);
    else
        for (int64_t n = 0; n < p.n; ++n) image(n);
}

std::vector<Value> grad(GradCtx & g) {
    return {Value{}, g.op("max_pool2d_grad", {g.in(0), g.dout()}, g.attrs())};
}
}  // namespace
DL_REGISTER_OP({.name = "max_pool2d_grad_grad",
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
