// y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), a composite of primitives (its gradient comes from
// theirs). Keras' default (approximate=False) is the exact x * Phi(x) with erf; the engine has no erf op, so
// both settings give this tanh approximation, which differs from the exact form by less than 5e-4 everywhere.
// `approximate` is accepted and ignored.
#include <numbers>

#include "graph/op.h"

namespace dl {
namespace {
Value expand(Graph & g, const std::vector<Value> & in, const Attrs &) {
    const Value x = in[0];
    const float c = static_cast<float>(std::sqrt(2.0 / std::numbers::pi));
    Value inner = c * (x + 0.044715f * (x * x * x));
    return 0.5f * x * (1.0f + g.op("tanh", {inner}));
}
}  // namespace
DL_REGISTER_OP({.name = "gelu",
                .expand = expand,
                .test = {.cases = {{{7}}, {{3, 5}}}, .low = -3.0f, .high = 3.0f},
                .activation = true});
}  // namespace dl
