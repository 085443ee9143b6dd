// y[i] = table[ids[i]]: rows gathered.   table [V, D] f32, ids int [...] -> [..., D] An id outside [0, V)
// gives a row of zeros (Keras raises an error, but a kernel cannot fail safely mid-step). dtable =
// embedding_grad(ids, dy) with vocab V (dy scatter-added by id);  ids are data, so no gradient.
#include <cstring>

#include "ops/kernel_util.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) {
    const Shape & table = c.in(0);
    if (table.rank() != 2) c.fail("expects a table [vocabulary, features], got {}", to_string(table));
    if (c.in_dtype(0) != DType::f32) c.fail("expects a float table");
    if (c.in_dtype(1) == DType::f32) c.fail("expects integer ids");
    Shape out = c.in(1);
    out.dims.push_back(table[1]);
    return {out};
}

void cpu(KernelCtx & k) {
    const TensorView &table = k.in(0), &ids = k.in(1);
    const int64_t V = table.shape[0], D = table.shape[1], n = ids.numel();
    const float * t = table.f32();
    float * y = k.out().f32();
    const size_t row_bytes = static_cast<size_t>(D) * sizeof(float);
    const int64_t per = std::max<int64_t>(1, kChunk / std::max<int64_t>(1, D)), tasks = (n + per - 1) / per;
    auto body = [&](int64_t task) {
        for (int64_t i = task * per; i < std::min(n, (task + 1) * per); ++i) {
            const int64_t id = ids.index_at(i);
            if (id >= 0 && id < V)
                std::memcpy(y + i * D, t + id * D, row_bytes);
            else
                std::memset(y + i * D, 0, row_bytes);
        }
    };
    if (tasks > 1)
        k.pool.parallel_for(tasks, body);
    else if (tasks == 1)
        body(0);
}

std::vector<Value> grad(GradCtx & g) {
    const Value table = g.in(0), ids = g.in(1);
    return {g.op("embedding_grad", {ids, g.dout()}, {{"vocab", table.shape()[0]}}), Value{}};
}
// Gather of rows. An id outside [0, V) is an error in ONNX Runtime where the kernel gives a row of zeros.
std::string onnx(OnnxCtx & c) { return c.add("Gather", {c.in(0), c.in(1)}, {{"axis", int64_t{0}}}); }
}  // namespace
DL_REGISTER_OP({.name = "embedding",
                .arity = 2,
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{4, 3}, {5}}, {{4, 3}, {2, 3}}}, .class_inputs = {1}, .classes = 4},
                .onnx = onnx});
}  // namespace dl
