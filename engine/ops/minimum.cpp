// y = min(a, b) elementwise (broadcasting); a NaN in either input propagates
#include "ops/kernel_util.h"

namespace dl {
namespace {
void cpu(KernelCtx & k) {
    binary_map(k, [](float a, float b) { return (b < a || b != b) ? b : a; });
}
// da = dy * step(b - a), db = dy * (1 - step(b - a)): a tie sends the whole gradient to b, once
std::vector<Value> grad(GradCtx & g) {
    Value a_smaller = g.op("step", {g.in(1) - g.in(0)});
    return {g.dout() * a_smaller, g.dout() * (1.0f - a_smaller)};
}
}  // namespace
DL_REGISTER_OP({.name = "minimum",
                .arity = 2,
                .infer = infer_broadcast,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{5}, {}}}, .has_kink = true}});
}  // namespace dl
