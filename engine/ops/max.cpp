// y = max of x over `axes` (all when empty), `keepdims` as numpy; a NaN anywhere in a group makes its max
// NaN, so a diverging run shows up instead of being hidden.
#include <limits>

#include "ops/kernel_util.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) {
    const std::vector<int> axes = reduction_axes(c);
    for (int a : axes)
        if (c.in(0)[a] == 0)
            c.fail("cannot take the max over axis {} of {}: it is empty", a, to_string(c.in(0)));
    return {reduced_shape(c.in(0), axes, c.attrs().get_int("keepdims") != 0)};
}
void cpu(KernelCtx & k) {
    reduce_kernel(
        k, reduction_axes(k.in(0).shape, k.attrs()), -std::numeric_limits<double>::infinity(),
        [](double a, double x) { return (x > a || x != x) ? x : a; }, [](double a, int64_t) { return a; });
}
// dx = m * broadcast(dy) / sum(m), m = equal(x, broadcast(y)): ties share the gradient, as in TensorFlow
std::vector<Value> grad(GradCtx & g) {
    const Shape & xs = g.in(0).shape();
    const Shape kept = reduced_shape(xs, reduction_axes(xs, g.attrs()), true);
    auto keep = [&](Value v) { return g.op("reshape", {v}, {{"shape", kept.dims}}); };
    auto back = [&](Value v) { return g.op("broadcast_to", {v}, {{"shape", xs.dims}}); };
    Value m = g.op("equal", {g.in(0), back(keep(g.out()))});
    Value ties = g.op("sum", {m}, {{"axes", g.attrs().get_ints("axes")}, {"keepdims", int64_t{1}}});
    return {m * back(keep(g.dout()) / ties)};
}
}  // namespace
DL_REGISTER_OP({.name = "max",
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{3, 4}}, {{2, 3, 4}}, {{1, 300, 4}}},
                         .attrs = {{"axes", std::vector<int64_t>{1}}},
                         .has_kink = true}});
}  // namespace dl
