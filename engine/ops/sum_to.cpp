// y = x summed down to `shape` (the inverse of broadcasting; autodiff's central un-broadcast);
// dx = broadcast_to(dy, x.shape)
#include "ops/kernel_util.h"

namespace dl {
namespace {
// The axes of x that were broadcast to reach it from `target`.
AxisList broadcast_axes(const Shape & x, const Shape & target) {
    AxisList axes;
    const int lead = x.rank() - target.rank();
    for (int d = 0; d < x.rank(); ++d)
        if (d < lead || (target[d - lead] == 1 && x[d] != 1)) axes.push_back(d);
    return axes;
}
OutInfo infer(ShapeCtx & c) {
    Shape target(c.attrs().get_ints("shape")), out;
    if (!broadcast_shapes(target, c.in(0), out) || out != c.in(0))
        c.fail("cannot sum {} down to {}", to_string(c.in(0)), to_string(target));
    return {target};
}
void cpu(KernelCtx & k) {
    const Shape & target = k.out().shape;  // the attribute, as inferred
    const TensorView & x = k.in(0);
    const int64_t n = x.numel(), cols = target.numel();
    if (target.rank() >= 1 && x.shape.rank() >= 1 && cols == x.shape[x.shape.rank() - 1] &&
        target[target.rank() - 1] == cols) {
        // The bias case: column sums of a [rows, cols] matrix, each column in row order.
        k.out().matrix() = x.matrix().colwise().sum();
        return;
    }
    if (cols == 1) {
        double s = 0;
        for (int64_t i = 0; i < n; ++i) s += x.f32()[i];
        k.out().f32()[0] = static_cast<float>(s);
        return;
    }
    reduce_kernel(
        k, broadcast_axes(x.shape, target), 0.0, [](double a, double v) { return a + v; },
        [](double a, int64_t) { return a; });
}
std::vector<Value> grad(GradCtx & g) {
    return {g.op("broadcast_to", {g.dout()}, {{"shape", g.in(0).shape().dims}})};
}
}  // namespace
DL_REGISTER_OP({.name = "sum_to",
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{6, 4}}, {{300, 4}}}, .attrs = {{"shape", std::vector<int64_t>{1, 4}}}}});
}  // namespace dl
