// y = a where b > 0, else 0: relu's backward step (dy masked by the forward output) in one pass instead of
// step(b) then a multiply; the fusion pass makes it from mul(a, step(b)). The mask has no gradient: da =
// where_positive(dy, b).
#include "ops/kernel_util.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) {
    if (c.in(0) != c.in(1)) c.fail("shapes {} and {} differ", to_string(c.in(0)), to_string(c.in(1)));
    return {c.in(0)};
}
void cpu(KernelCtx & k) {
    const float *a = k.in(0).f32(), *b = k.in(1).f32();
    float * y = k.out().f32();
    parallel_chunks(k.pool, k.out().numel(), [&](int64_t s, int64_t e) {
        for (int64_t i = s; i < e; ++i) y[i] = b[i] > 0.0f ? a[i] : 0.0f;
    });
}
std::vector<Value> grad(GradCtx & g) { return {g.op("where_positive", {g.dout(), g.in(1)}), Value{}}; }
}  // namespace
DL_REGISTER_OP({.name = "where_positive",
                .arity = 2,
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{3, 5}, {3, 5}}}, .kink = 0.0f, .has_kink = true}});
}  // namespace dl
