// y = sum of x over `axes` (all when empty), `keepdims` as numpy;  dx = broadcast of dy back to x's shape
#include "ops/kernel_util.h"

namespace dl {
namespace {
void cpu(KernelCtx & k) {
    reduce_kernel(
        k, reduction_axes(k.in(0).shape, k.attrs()), 0.0, [](double a, double x) { return a + x; },
        [](double a, int64_t) { return a; });
}
std::vector<Value> grad(GradCtx & g) {
    const Shape & xs = g.in(0).shape();
    const Shape kept = reduced_shape(xs, reduction_axes(xs, g.attrs()), true);
    Value d = g.op("reshape", {g.dout()}, {{"shape", kept.dims}});
    return {g.op("broadcast_to", {d}, {{"shape", xs.dims}})};
}
}  // namespace
DL_REGISTER_OP({.name = "sum",
                .infer = infer_reduction,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{3, 4}}, {{2, 3, 4}}, {{1, 300, 4}}, {{2, 300, 1}}},
                         .attrs = {{"axes", std::vector<int64_t>{1}}}}});
}  // namespace dl
