// A trainable parameter, stored in the ParamStore under its name ("dense_1/kernel").
#include "graph/op.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) { return {c.node.shape, c.node.dtype}; }
std::string onnx(OnnxCtx & c) { return c.initializer(c.own_value(), c.node().name); }
}  // namespace
DL_REGISTER_OP(
    {.name = "param", .arity = 0, .infer = infer, .test = {.skip = true}, .leaf = true, .onnx = onnx});
}  // namespace dl
