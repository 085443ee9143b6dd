// loss = mean((prediction - target)^2), a composite of primitives (its gradient comes from theirs).
#include "graph/op.h"

namespace dl {
namespace {
Value expand(Graph & g, const std::vector<Value> & in, const Attrs &) {
    Value d = in[0] - in[1];
    return g.op("mean", {d * d});
}
}  // namespace
DL_REGISTER_OP(
    {.name = "mse", .arity = 2, .expand = expand, .test = {.cases = {{{4, 1}, {4, 1}}, {{3, 2}, {3, 2}}}}});
}  // namespace dl
