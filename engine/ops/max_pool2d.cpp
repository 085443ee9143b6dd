// y[n, i, j, c] = max of x[n, i*sh - top + a, j*sw - left + b, c] over the window a < ph, b < pw, padded
// positions excluded (Keras MaxPooling2D, channels last; `pool` [ph, pw], `strides` [sh, sw], `padding`
// "valid" or "same"); dx = max_pool2d_grad(x, dy). A NaN in a window makes its max NaN, as in `max`.
#include <algorithm>

#include "ops/onnx_ctx.h"
#include "ops/pool_util.h"

namespace dl {
namespace {

// The rules for `pool`, `strides` and `padding`, shared by the other pooling ops through
// find_op("max_pool2d").
OutInfo infer(ShapeCtx & c) {
    const Shape & x = c.in(0);
    const Attrs & a = c.attrs();
    if (x.rank() != 4) c.fail("needs an [N, H, W, C] input (channels last), got {}", to_string(x));
    if (c.in_dtype(0) != DType::f32) c.fail("needs a float32 input, got {}", dtype_name(c.in_dtype(0)));
    const std::vector<int64_t> pool = a.get_ints("pool"), strides = a.get_ints("strides");
    if (pool.size() != 2 || pool[0] < 1 || pool[1] < 1)
        c.fail("needs `pool` = [height, width] with sizes >= 1, got [{}]", fmt::join(pool, ", "));
    if (strides.size() != 2 || strides[0] < 1 || strides[1] < 1)
        c.fail("needs `strides` = [height, width] with steps >= 1, got [{}]", fmt::join(strides, ", "));
    const std::string padding = a.get_str("padding");
    Shape out = x;
    if (padding == "valid") {
        if (x[1] < pool[0] || x[2] < pool[1])
            c.fail("the {}x{} window is larger than the {}x{} input of {} (padding \"valid\" adds none)",
                   pool[0], pool[1], x[1], x[2], to_string(x));
        out[1] = (x[1] - pool[0]) / strides[0] + 1;
        out[2] = (x[2] - pool[1]) / strides[1] + 1;
    } else if (padding == "same") {  // every window then holds at least one real element
        out[1] = (x[1] + strides[0] - 1) / strides[0];
        out[2] = (x[2] + strides[1] - 1) / strides[1];
    } else {
        c.fail("needs `padding` = \"valid\" or \"same\", got \"{}\"", padding);
    }
    return {out};
}

void cpu(KernelCtx & k) {
    const Pool2d p = pool2d(k.in(0).shape, k.out().shape, k.attrs());
    const float * px = k.in(0).f32();
    float * py = k.out().f32();
    // One task per output row of an image, each writing its own outputs: the same result at any thread count,
    // and a single image (batch-1 inference) still spreads over the threads.
    auto row = [&](int64_t task) {
        const int64_t n = task / p.oh, i = task % p.oh;
        const float * xn = px + n * p.h * p.w * p.c;
        {
            const int64_t r = i * p.sh - p.top, r0 = std::max<int64_t>(r, 0), r1 = std::min(r + p.ph, p.h);
            for (int64_t j = 0; j < p.ow; ++j) {
                const int64_t q = j * p.sw - p.left, q0 = std::max<int64_t>(q, 0),
                              q1 = std::min(q + p.pw, p.w);
                float * __restrict y = py + ((n * p.oh + i) * p.ow + j) * p.c;
                const float * first = xn + (r0 * p.w + q0) * p.c;
                std::copy(first, first + p.c, y);
                for (int64_t a = r0; a < r1; ++a)
                    for (int64_t b = a == r0 ? q0 + 1 : q0; b < q1; ++b) {
                        const float * __restrict v = xn + (a * p.w + b) * p.c;
                        for (int64_t ch = 0; ch < p.c; ++ch)
                            y[ch] = (v[ch] > y[ch] || v[ch] != v[ch]) ? v[ch] : y[ch];
                    }
            }
        }
    };
    if (k.in(0).numel() > kChunk / 4)
        k.pool.parallel_for(p.n * p.oh, row);
    else
        for (int64_t t = 0; t < p.n * p.oh; ++t) row(t);
}

std::vector<Value> grad(GradCtx & g) { return {g.op("max_pool2d_grad", {g.in(0), g.dout()}, g.attrs())}; }
// MaxPool, channels first (channels_first), "same" as explicit pads; ONNX pads a max pool with -inf, so the
// padding never wins, as in the kernel.
std::string onnx(OnnxCtx & c) {
    return c.channels_first("MaxPool", {c.in(0)},
                            onnx_pool_attrs(pool2d(c.in_shape(0), c.out_shape(), c.attrs())));
}
}  // namespace
DL_REGISTER_OP({.name = "max_pool2d",
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{1, 4, 5, 2}}, {{2, 3, 3, 1}}},
                         .attrs = {{"pool", std::vector<int64_t>{2, 2}},
                                   {"strides", std::vector<int64_t>{2, 2}},
                                   {"padding", std::string("same")}},
                         .has_kink = true},
                .onnx = onnx});
}  // namespace dl
