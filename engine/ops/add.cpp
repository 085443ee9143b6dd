// y = a + b (broadcasting); da = dy, db = dy (un-broadcast centrally by autodiff)
#include "ops/kernel_util.h"

namespace dl {
namespace {
void cpu(KernelCtx & k) { binary_map(k, [](float a, float b) { return a + b; }); }
std::vector<Value> grad(GradCtx & g) { return {g.dout(), g.dout()}; }
}  // namespace
DL_REGISTER_OP({.name = "add", .arity = 2, .infer = infer_broadcast, .cpu = cpu, .grad = grad,
                .test = {.cases = {{{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{2, 1, 3}, {4, 1}}, {{5}, {}}}}});
}  // namespace dl
