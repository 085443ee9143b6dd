// y[n, c] = mean of x[n, h, w, c] over h and w (Keras GlobalAveragePooling2D, channels last);
// dx = broadcast(dy) / (H * W)
#include <algorithm>

#include "ops/kernel_util.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) {
    const Shape & x = c.in(0);
    if (x.rank() != 4) c.fail("needs an [N, H, W, C] input (channels last), got {}", to_string(x));
    if (c.in_dtype(0) != DType::f32) c.fail("needs a float32 input, got {}", dtype_name(c.in_dtype(0)));
    if (x[1] == 0 || x[2] == 0) c.fail("cannot average over the empty image of {}", to_string(x));
    return {Shape{x[0], x[3]}};
}

// Channels are summed in blocks of this many double accumulators (as `mean` sums in double), kept on the
// stack.
constexpr int64_t kBlock = 256;

void cpu(KernelCtx & k) {
    const Shape & s = k.in(0).shape;
    const int64_t n_images = s[0], hw = s[1] * s[2], c = s[3];
    const float * px = k.in(0).f32();
    float * py = k.out().f32();
    const double scale = 1.0 / static_cast<double>(hw);
    auto image = [&](int64_t n) {  // each image writes its own outputs: the same result at any thread count
        const float * xn = px + n * hw * c;
        for (int64_t c0 = 0; c0 < c; c0 += kBlock) {
            const int64_t m = std::min(kBlock, c - c0);
            double acc[kBlock] = {};
            for (int64_t i = 0; i < hw; ++i) {
                const float * __restrict v = xn + i * c + c0;
                for (int64_t ch = 0; ch < m; ++ch) acc[ch] += static_cast<double>(v[ch]);
            }
            for (int64_t ch = 0; ch < m; ++ch) py[n * c + c0 + ch] = static_cast<float>(acc[ch] * scale);
        }
    };
    if (k.in(0).numel() > kChunk)
        k.pool.parallel_for(n_images, image);
    else
        for (int64_t n = 0; n < n_images; ++n) image(n);
}

std::vector<Value> grad(GradCtx & g) {
    const Shape xs = g.in(0).shape();
    Value d = g.op("reshape", {g.dout()}, {{"shape", std::vector<int64_t>{xs[0], 1, 1, xs[3]}}});
    return {g.op("broadcast_to", {d}, {{"shape", xs.dims}}) * (1.0f / static_cast<float>(xs[1] * xs[2]))};
}
// ReduceMean over H and W (opset 17 still takes `axes` as an attribute).
std::string onnx(OnnxCtx & c) {
    return c.add("ReduceMean", {c.in(0)}, {{"axes", std::vector<int64_t>{1, 2}}, {"keepdims", int64_t{0}}});
}
}  // namespace
DL_REGISTER_OP({.name = "global_avg_pool2d",
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{2, 3, 4, 5}}, {{1, 1, 1, 3}}}},
                .onnx = onnx});
}  // namespace dl
