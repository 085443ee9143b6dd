// y = a * b (broadcasting); da = dy * b, db = dy * a
#include "ops/kernel_util.h"

namespace dl {
namespace {
void cpu(KernelCtx & k) { binary_map(k, [](float a, float b) { return a * b; }); }
std::vector<Value> grad(GradCtx & g) { return {g.dout() * g.in(1), g.dout() * g.in(0)}; }
}  // namespace
DL_REGISTER_OP({.name = "mul", .arity = 2, .infer = infer_broadcast, .cpu = cpu, .grad = grad,
                .test = {.cases = {{{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{2, 3}, {}}}}});
}  // namespace dl
