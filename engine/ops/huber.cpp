// loss = mean(0.5 e^2 where |e| <= delta, else delta (|e| - 0.5 delta)), e = prediction - target (Keras
// Huber, delta default 1). Written without a branch: with q = min(|e|, delta), each element is 0.5 q^2 +
// delta (|e| - q).
#include "core/source_loc.h"
#include "graph/op.h"

namespace dl {
namespace {
Value expand(Graph & g, const std::vector<Value> & in, const Attrs & attrs) {
    const double delta = attrs.get_float("delta", 1.0);
    if (!(delta > 0.0))
        throw Error(ExitCode::bad_input,
                    format_at(g.location(), fmt::format("huber: delta must be positive, got {}", delta)));
    if (in[0].shape() != in[1].shape())  // broadcasting [n, 1] against [n] would silently make [n, n]
        throw Error(
            ExitCode::bad_input,
            format_at(g.location(), fmt::format("huber: predictions {} and targets {} differ in shape",
                                                to_string(in[0].shape()), to_string(in[1].shape()))));
    const float d = static_cast<float>(delta);
    Value a = g.op("abs", {in[0] - in[1]});
    Value q = g.op("minimum", {a, g.constant(d)});
    return g.op("mean", {0.5f * (q * q) + d * (a - q)});
}
}  // namespace
// Inputs in [-2, 2] put errors on both sides of delta = 1.
DL_REGISTER_OP({.name = "huber",
                .arity = 2,
                .expand = expand,
                .test = {
                    .cases = {{{4, 3}, {4, 3}}, {{6}, {6}}}, .low = -2.0f, .high = 2.0f, .has_kink = true}});
}  // namespace dl
