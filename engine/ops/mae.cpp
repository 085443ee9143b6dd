// loss = mean(|prediction - target|) over all elements, a composite (Keras' mean over the last axis, then
// over the batch, is the same number).
#include "core/source_loc.h"
#include "graph/op.h"

namespace dl {
namespace {
Value expand(Graph & g, const std::vector<Value> & in, const Attrs &) {
    if (in[0].shape() != in[1].shape())  // broadcasting [n, 1] against [n] would silently make [n, n]
        throw Error(ExitCode::bad_input,
                    format_at(g.location(), fmt::format("mae: predictions {} and targets {} differ in shape",
                                                        to_string(in[0].shape()), to_string(in[1].shape()))));
    return g.op("mean", {g.op("abs", {in[0] - in[1]})});
}
}  // namespace
DL_REGISTER_OP({.name = "mae",
                .arity = 2,
                .expand = expand,
                .test = {.cases = {{{4, 1}, {4, 1}}, {{3, 2}, {3, 2}}}, .has_kink = true}});
}  // namespace dl
