// A constant tensor held by the node itself (scalars of gradient rules, folded subgraphs).
#include "graph/op.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) { return {c.node.shape, c.node.dtype}; }
std::string onnx(OnnxCtx & c) { return c.initializer(c.own_value()); }
}  // namespace
DL_REGISTER_OP(
    {.name = "const", .arity = 0, .infer = infer, .test = {.skip = true}, .leaf = true, .onnx = onnx});
}  // namespace dl
