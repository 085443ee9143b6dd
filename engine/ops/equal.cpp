// y = 1 where a == b, else 0 (broadcasting; f32 in and out). A comparison: no gradient.
#include "ops/kernel_util.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) {
    if (c.in_dtype(0) != DType::f32 || c.in_dtype(1) != DType::f32)
        c.fail("compares f32 tensors, got {} and {}", dtype_name(c.in_dtype(0)), dtype_name(c.in_dtype(1)));
    return infer_broadcast(c);
}
void cpu(KernelCtx & k) {
    binary_map(k, [](float a, float b) { return a == b ? 1.0f : 0.0f; });
}
}  // namespace
DL_REGISTER_OP({.name = "equal",
                .arity = 2,
                .infer = infer,
                .cpu = cpu,
                .test = {.cases = {{{3, 4}, {3, 4}}, {{3, 4}, {4}}}}});
}  // namespace dl
