// loss = mean over all elements of the binary cross-entropy of targets z in [0, 1] (Keras semantics).
//   from_logits = 1: relu(x) - x z + log(1 + exp(-|x|)), finite for any x (exp sees no positive argument)
//   from_logits = 0: p clipped to [1e-7, 1 - 1e-7], then -(z log p + (1 - z) log(1 - p))
// A composite: both forms are stable as written, so their gradients come from the primitives.
#include "core/source_loc.h"
#include "graph/op.h"

namespace dl {
namespace {
constexpr double kEpsilon = 1e-7;  // Keras' backend epsilon

Value expand(Graph & g, const std::vector<Value> & in, const Attrs & attrs) {
    const Value x = in[0], z = in[1];
    if (x.shape() != z.shape())
        throw Error(
            ExitCode::bad_input,
            format_at(g.location(),
                      fmt::format("binary_crossentropy: predictions {} and targets {} differ in shape",
                                  to_string(x.shape()), to_string(z.shape()))));
    if (attrs.get_int("from_logits") != 0) {
        Value softplus_neg_abs = g.op("log", {1.0f + g.op("exp", {-g.op("abs", {x})})});
        return g.op("mean", {g.op("relu", {x}) - x * z + softplus_neg_abs});
    }
    Value p = g.op("clip", {x}, {{"min", kEpsilon}, {"max", 1.0 - kEpsilon}});
    Value ll = z * g.op("log", {p}) + (1.0f - z) * g.op("log", {1.0f - p});
    return -g.op("mean", {ll});
}
}  // namespace
// Probabilities in (0, 1); the logits form is checked in tests/grad with its own attributes.
DL_REGISTER_OP({.name = "binary_crossentropy",
                .arity = 2,
                .expand = expand,
                .test = {.cases = {{{4, 3}, {4, 3}}, {{5}, {5}}},
                         .attrs = {{"from_logits", int64_t{0}}},
                         .low = 0.05f,
                         .high = 0.95f}});
}  // namespace dl
