// y = mean of x over `axes` (all when empty);  dx = broadcast(dy) / count
#include "ops/kernel_util.h"

namespace dl {
namespace {
void cpu(KernelCtx & k) {
    reduce_kernel(
        k, reduction_axes(k.in(0).shape, k.attrs()), 0.0, [](double a, double x) { return a + x; },
        [](double a, int64_t n) { return n ? a / static_cast<double>(n) : 0.0; });
}
std::vector<Value> grad(GradCtx & g) {
    const Shape & xs = g.in(0).shape();
    const std::vector<int> axes = reduction_axes(xs, g.attrs());
    const Shape kept = reduced_shape(xs, axes, true);
    const float count = static_cast<float>(xs.numel() / std::max<int64_t>(1, kept.numel()));
    Value d = g.op("reshape", {g.dout()}, {{"shape", kept.dims}});
    return {g.op("broadcast_to", {d}, {{"shape", xs.dims}}) * (1.0f / count)};
}
}  // namespace
DL_REGISTER_OP({.name = "mean",
                .infer = infer_reduction,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{3, 4}}, {{2, 3, 4}}, {{80, 64}}},
                         .attrs = {{"axes", std::vector<int64_t>{0, -1}}}}});
}  // namespace dl
