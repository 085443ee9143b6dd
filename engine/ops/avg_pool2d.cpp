// y[n, i, j, c] = mean of x[n, i*sh - top + a, j*sw - left + b, c] over the real (unpadded) positions of the
// window a < ph, b < pw (Keras AveragePooling2D, channels last; attrs as max_pool2d); dx =
// avg_pool2d_grad(dy).
#include <algorithm>

#include "ops/onnx_ctx.h"
#include "ops/pool_util.h"

namespace dl {
namespace {

OutInfo infer(ShapeCtx & c) { return find_op("max_pool2d")->infer(c); }  // the same windows and rules

void cpu(KernelCtx & k) {
    const Pool2d p = pool2d(k.in(0).shape, k.out().shape, k.attrs());
    const float * px = k.in(0).f32();
    float * py = k.out().f32();
    auto image = [&](int64_t n) {  // each image writes its own outputs: the same result at any thread count
        const float * xn = px + n * p.h * p.w * p.c;
        for (int64_t i = 0; i < p.oh; ++i) {
            const int64_t r = i * p.sh - p.top, r0 = std::max<int64_t>(r, 0), r1 = std::min(r + p.ph, p.h);
            for (int64_t j = 0; j < p.ow; ++j) {
                const int64_t q = j * p.sw - p.left, q0 = std::max<int64_t>(q, 0),
                              q1 = std::min(q + p.pw, p.w);
                float * __restrict y = py + ((n * p.oh + i) * p.ow + j) * p.c;
                std::fill(y, y + p.c, 0.0f);
                for (int64_t a = r0; a < r1; ++a)
                    for (int64_t b = q0; b < q1; ++b) {
                        const float * __restrict v = xn + (a * p.w + b) * p.c;
                        for (int64_t ch = 0; ch < p.c; ++ch) y[ch] += v[ch];
                    }
                const float scale = 1.0f / static_cast<float>((r1 - r0) * (q1 - q0));
                for (int64_t ch = 0; ch < p.c; ++ch) y[ch] *= scale;
            }
        }
    };
    if (k.in(0).numel() > kChunk)
        k.pool.parallel_for(p.n, image);
    else
        for (int64_t n = 0; n < p.n; ++n) image(n);
}

std::vector<Value> grad(GradCtx & g) {
    Attrs a = g.attrs();
    a.set("input_shape", g.in(0).shape().dims);
    return {g.op("avg_pool2d_grad", {g.dout()}, std::move(a))};
}
// AveragePool, channels first (channels_first), "same" as explicit pads left out of the count
// (count_include_pad 0): the kernel averages the real values only.
std::string onnx(OnnxCtx & c) {
    Attrs a = onnx_pool_attrs(pool2d(c.in_shape(0), c.out_shape(), c.attrs()));
    a.set("count_include_pad", int64_t{0});
    return c.channels_first("AveragePool", {c.in(0)}, a);
}
}  // namespace
DL_REGISTER_OP({.name = "avg_pool2d",
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{1, 4, 5, 2}}, {{2, 3, 3, 1}}},
                         .attrs = {{"pool", std::vector<int64_t>{2, 2}},
                                   {"strides", std::vector<int64_t>{2, 2}},
                                   {"padding", std::string("same")}}},
                .onnx = onnx});
}  // namespace dl
