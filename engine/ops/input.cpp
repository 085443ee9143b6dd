// A value fed from outside for every run (a batch of features or labels); its storage is the executor's.
#include "graph/op.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) { return {c.node.shape, c.node.dtype}; }
// The model's input as the exporter feeds it (normalised, in the model's shape).
std::string onnx(OnnxCtx & c) { return c.feed(c.node().name); }
}  // namespace
DL_REGISTER_OP(
    {.name = "input", .arity = 0, .infer = infer, .test = {.skip = true}, .leaf = true, .onnx = onnx});
}  // namespace dl
