// y = x broadcast to `shape` (numpy rules);  dx = sum_to(dy, x.shape)
#include "ops/kernel_util.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) {
    Shape target(c.attrs().get_ints("shape")), out;
    if (!broadcast_shapes(c.in(0), target, out) || out != target)
        c.fail("cannot broadcast {} to {}", to_string(c.in(0)), to_string(target));
    return {target};
}
void cpu(KernelCtx & k) {
    const TensorView & x = k.in(0);
    TensorView & y = k.out();
    const float * px = x.f32();
    float * py = y.f32();
    const int64_t n = y.numel();
    if (x.numel() == 1) {
        std::fill(py, py + n, px[0]);
        return;
    }
    const Strides sx = broadcast_strides(x.shape, y.shape);
    const int rank = y.shape.rank();
    parallel_chunks(k.pool, n, [&](int64_t s, int64_t e) {
        for (int64_t i = s; i < e; ++i) {
            int64_t rem = i, ix = 0;
            for (int d = rank - 1; d >= 0; --d) {
                ix += (rem % y.shape[d]) * sx[static_cast<size_t>(d)];
                rem /= y.shape[d];
            }
            py[i] = px[ix];
        }
    });
}
std::vector<Value> grad(GradCtx & g) {
    return {g.op("sum_to", {g.dout()}, {{"shape", g.in(0).shape().dims}})};
}
}  // namespace
DL_REGISTER_OP({.name = "broadcast_to",
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{3, 1}}}, .attrs = {{"shape", std::vector<int64_t>{2, 3, 4}}}}});
}  // namespace dl
