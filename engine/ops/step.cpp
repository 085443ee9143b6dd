// y = 1 where x > 0, else 0: the mask used by gradients of relu, abs, clip. Not differentiable (zero almost
// everywhere), so no gradient flows through it.
#include "ops/kernel_util.h"

namespace dl {
namespace {
void cpu(KernelCtx & k) {
    unary_map(k, [](float x) { return x > 0.0f ? 1.0f : 0.0f; });
}
}  // namespace
DL_REGISTER_OP({.name = "step", .infer = infer_same, .cpu = cpu, .test = {.cases = {{{7}}}}});
}  // namespace dl
