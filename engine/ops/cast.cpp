// y = x converted to `dtype` (f32 | i32): float ids to int32 for embedding, rounded to the nearest integer.
// Ids are data, so no gradient flows through it.
#include <cmath>
#include <cstring>

#include "ops/kernel_util.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) {
    const std::string to = c.attrs().get_str("dtype", "f32");
    if (to != "f32" && to != "i32") c.fail("dtype must be f32 or i32, got '{}'", to);
    if (c.in_dtype(0) != DType::f32 && c.in_dtype(0) != DType::i32) c.fail("casts f32 or i32 values only");
    return {c.in(0), to == "i32" ? DType::i32 : DType::f32};
}
void cpu(KernelCtx & k) {
    const TensorView & x = k.in(0);
    TensorView & y = k.out();
    const int64_t n = y.numel();
    if (x.dtype == y.dtype) {
        std::memcpy(y.data, x.data, y.bytes());
    } else if (y.dtype == DType::i32) {
        for (int64_t i = 0; i < n; ++i) y.i32()[i] = static_cast<int32_t>(std::lround(x.f32()[i]));
    } else {
        for (int64_t i = 0; i < n; ++i) y.f32()[i] = static_cast<float>(x.i32()[i]);
    }
}
// Only a float-to-float cast is differentiable (it is the identity).
std::vector<Value> grad(GradCtx & g) {
    if (g.node().dtype == DType::f32 && g.in(0).node().dtype == DType::f32) return {g.dout()};
    return {Value{}};
}
// Cast. ONNX's Cast truncates where the kernel rounds half away from zero (lround): to integers through
// sign(x) * floor(|x| + 0.5) first (ONNX's Round would take ties to even).
std::string onnx(OnnxCtx & c) {
    const DType to = c.node().dtype;
    std::string x = c.in(0);
    if (to == c.in_dtype(0)) return c.add("Identity", {x});
    if (to != DType::f32) {
        Tensor half(Shape{});
        half.f32()[0] = 0.5f;
        const std::string magnitude =
            c.add("Floor", {c.add("Add", {c.add("Abs", {x}), c.initializer(half)})});
        x = c.add("Mul", {c.add("Sign", {x}), magnitude});
    }
    return c.add("Cast", {x}, {{"to", static_cast<int64_t>(onnx_type(to))}});
}
}  // namespace
DL_REGISTER_OP({.name = "cast",
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{3, 4}}}, .attrs = {{"dtype", std::string("f32")}}},
                .onnx = onnx});
}  // namespace dl
