// dx = avg_pool2d's gradient for an input of `input_shape`: each dy[n, i, j, c] spread evenly over the real
// positions of its window, summed where windows overlap; attrs as max_pool2d. Linear, and avg_pool2d is its
// adjoint: d(dy) = avg_pool2d(ddx).
#include <algorithm>

#include "ops/pool_util.h"

namespace dl {
namespace {

// max_pool2d's inference holds the rules; it reads its input's shape from a graph, so a scratch graph holding
// an input of `input_shape` stands in for x (errors still name this node and its YAML line).
OutInfo infer(ShapeCtx & c) {
    const std::vector<int64_t> dims = c.attrs().get_ints("input_shape");
    if (dims.size() != 4) c.fail("needs `input_shape` = [N, H, W, C], got [{}]", fmt::join(dims, ", "));
    Graph scratch;
    Node probe = c.node;
    probe.inputs = {scratch.input("x", Shape(dims)).id};
    ShapeCtx pc{scratch, probe};
    const OutInfo pooled = find_op("max_pool2d")->infer(pc);
    if (c.in(0) != pooled.shape)
        c.fail("dy must have the pooled shape {} of input_shape {}, got {}", to_string(pooled.shape),
               to_string(Shape(dims)), to_string(c.in(0)));
    return {Shape(dims)};
}

void cpu(KernelCtx & k) {
    const Pool2d p = pool2d(k.out().shape, k.in(0).shape, k.attrs());
    const float * pdy = k.in(0).f32();
    float * pdx = k.out().f32();
    // One task per image: overlapping windows add into the same dx, so an image's sums stay in one task, in
    // window order, whatever the thread count.
    auto image = [&](int64_t n) {
        float * dxn = pdx + n * p.h * p.w * p.c;
        std::fill(dxn, dxn + p.h * p.w * p.c, 0.0f);
        for (int64_t i = 0; i < p.oh; ++i) {
            const int64_t r = i * p.sh - p.top, r0 = std::max<int64_t>(r, 0), r1 = std::min(r + p.ph, p.h);
            for (int64_t j = 0; j < p.ow; ++j) {
                const int64_t q = j * p.sw - p.left, q0 = std::max<int64_t>(q, 0),
                              q1 = std::min(q + p.pw, p.w);
                const float * __restrict dy = pdy + ((n * p.oh + i) * p.ow + j) * p.c;
                const float scale = 1.0f / static_cast<float>((r1 - r0) * (q1 - q0));
                for (int64_t a = r0; a < r1; ++a)
                    for (int64_t b = q0; b < q1; ++b) {
                        float * __restrict d = dxn + (a * p.w + b) * p.c;
                        for (int64_t ch = 0; ch < p.c; ++ch) d[ch] += dy[ch] * scale;
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
    Attrs a;
    for (const char * key : {"pool", "strides", "padding"}) a.set(key, g.attrs().all().at(key));
    return {g.op("avg_pool2d", {g.dout()}, std::move(a))};
}
}  // namespace
DL_REGISTER_OP({.name = "avg_pool2d_grad",
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{1, 4, 5, 2}}},  // one case: `input_shape` must match it
                         .attrs = {{"pool", std::vector<int64_t>{3, 2}},
                                   {"strides", std::vector<int64_t>{1, 1}},
                                   {"padding", std::string("same")},
                                   {"input_shape", std::vector<int64_t>{1, 4, 5, 2}}}}});
}  // namespace dl
