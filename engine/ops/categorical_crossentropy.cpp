// loss = mean over rows of -sum(t * log p, last axis), targets t one-hot or soft, [..., classes] (Keras
// semantics).
//   from_logits = 1: log p = log_softmax(x), stable for any x
//   from_logits = 0: p = x / sum(x, last axis), clipped to [1e-7, 1 - 1e-7], as Keras does
// A composite: both forms are stable as written, so their gradients come from the primitives.
#include "core/source_loc.h"
#include "graph/op.h"

namespace dl {
namespace {
constexpr double kEpsilon = 1e-7;  // Keras' backend epsilon

Value expand(Graph & g, const std::vector<Value> & in, const Attrs & attrs) {
    const Value x = in[0], t = in[1];
    if (x.shape() != t.shape() || x.shape().rank() < 1)
        throw Error(ExitCode::bad_input,
                    format_at(g.location(), fmt::format("categorical_crossentropy: predictions {} and "
                                                        "targets {} must have the same shape [..., classes]",
                                                        to_string(x.shape()), to_string(t.shape()))));
    const Attrs last_keep = {{"axes", std::vector<int64_t>{-1}}, {"keepdims", int64_t{1}}};
    Value log_p;
    if (attrs.get_int("from_logits") != 0) {
        log_p = g.op("log_softmax", {x});
    } else {
        Value p = x / g.op("sum", {x}, last_keep);
        log_p = g.op("log", {g.op("clip", {p}, {{"min", kEpsilon}, {"max", 1.0 - kEpsilon}})});
    }
    return -g.op("mean", {g.op("sum", {t * log_p}, {{"axes", std::vector<int64_t>{-1}}})});
}
}  // namespace
// Probabilities (unnormalised: the op divides by the row sum); the logits form is checked in tests/grad.
DL_REGISTER_OP({.name = "categorical_crossentropy",
                .arity = 2,
                .expand = expand,
                .test = {.cases = {{{4, 3}, {4, 3}}, {{5}, {5}}},
                         .attrs = {{"from_logits", int64_t{0}}},
                         .low = 0.05f,
                         .high = 0.95f}});
}  // namespace dl
