// y = x with a new shape of the same size (one extent may be -1);  dx = reshape(dy, x.shape)
#include <cstring>

#include "ops/kernel_util.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) {
    Shape out(c.attrs().get_ints("shape"));
    int infer_at = -1;
    int64_t known = 1;
    for (int d = 0; d < out.rank(); ++d) {
        if (out[d] == -1 && infer_at < 0)
            infer_at = d;
        else if (out[d] < 0)
            c.fail("bad target shape {}", to_string(out));
        else
            known *= out[d];
    }
    const int64_t n = c.in(0).numel();
    if (infer_at >= 0) {
        if (known == 0 || n % known != 0)
            c.fail("cannot reshape {} into {}", to_string(c.in(0)), to_string(out));
        out[infer_at] = n / known;
    }
    if (out.numel() != n)
        c.fail("cannot reshape {} ({} values) into {}", to_string(c.in(0)), n, to_string(out));
    return {out, c.in_dtype(0)};
}
void cpu(KernelCtx & k) { std::memcpy(k.out().data, k.in(0).data, k.out().bytes()); }
std::vector<Value> grad(GradCtx & g) {
    return {g.op("reshape", {g.dout()}, {{"shape", g.in(0).shape().dims}})};
}
// Reshape with the batch axis as 0 (ONNX: copy the input's extent), never the size the graph was built with.
std::string onnx(OnnxCtx & c) {
    std::vector<int64_t> shape = c.attrs().get_ints("shape");
    if (c.batched(0)) {
        if (c.out_shape().rank() == 0 || c.out_shape()[0] != c.in_shape(0)[0])
            c.fail(fmt::format("reshapes {} into {} across the batch axis", to_string(c.in_shape(0)),
                               to_string(c.out_shape())));
        shape[0] = 0;
    }
    return c.add("Reshape", {c.in(0), c.ints(shape)});
}
}  // namespace
DL_REGISTER_OP({.name = "reshape",
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{3, 4}}}, .attrs = {{"shape", std::vector<int64_t>{2, -1}}}},
                .onnx = onnx});
}  // namespace dl
