// Training-mode dropout: y = x * keep_i / (1 - rate), keep_i = uniform(seed, key, step, i) >= rate. The mask
// is a pure function of (seed, key, step, i), so the gradient is the same op on dy: dx = dropout(dy).
#include "core/rng.h"
#include "ops/kernel_util.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) {
    const double rate = c.attrs().get_float("rate");
    if (!(rate >= 0.0 && rate < 1.0)) c.fail("rate must be in [0, 1), got {}", rate);
    return {c.in(0)};
}
void cpu(KernelCtx & k) {
    const float rate = static_cast<float>(k.attrs().get_float("rate"));
    const float scale = 1.0f / (1.0f - rate);
    const Rng rng(k.seed,
                  Rng::stream("dropout", static_cast<uint64_t>(k.attrs().get_int("key"))) ^ Rng::mix(k.step));
    const float * x = k.in(0).f32();
    float * y = k.out().f32();
    parallel_chunks(k.pool, k.out().numel(), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i)
            y[i] = rng.uniform(static_cast<uint64_t>(i)) >= rate ? x[i] * scale : 0.0f;
    });
}
std::vector<Value> grad(GradCtx & g) { return {g.op("dropout", {g.dout()}, g.attrs())}; }
}  // namespace
DL_REGISTER_OP({.name = "dropout",
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{4, 6}}}, .attrs = {{"rate", 0.25}, {"key", int64_t{7}}}},
                .random = true});
}  // namespace dl
