// y[i, c] = 1 where labels[i] == c.   int [n] -> f32 [n, depth]; labels are data, so no gradient.
#include <cstring>

#include "ops/kernel_util.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) {
    if (c.in_dtype(0) == DType::f32) c.fail("expects integer labels");
    Shape out = c.in(0);
    out.dims.push_back(c.attrs().get_int("depth"));
    return {out};
}
void cpu(KernelCtx & k) {
    const int64_t depth = k.attrs().get_int("depth"), n = k.in(0).numel();
    float * y = k.out().f32();
    std::memset(y, 0, k.out().bytes());
    for (int64_t i = 0; i < n; ++i) {
        const int64_t c = k.in(0).index_at(i);
        if (c >= 0 && c < depth) y[i * depth + c] = 1.0f;
    }
}
}  // namespace
DL_REGISTER_OP({.name = "one_hot",
                .infer = infer,
                .cpu = cpu,
                .test = {
                    .cases = {{{6}}}, .attrs = {{"depth", int64_t{4}}}, .class_inputs = {0}, .classes = 4}});
}  // namespace dl
