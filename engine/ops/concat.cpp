// y = the inputs joined along `axis` (default -1, as Keras' Concatenate); all other extents must agree.
//   [2, 3] ++ [2, 4] (axis 1) -> [2, 7]
#include <cstring>

#include "ops/kernel_util.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
int axis_of(const Attrs & a, int rank) { return normalize_axis(a.get_int("axis", -1), rank); }
OutInfo infer(ShapeCtx & c) {
    if (c.num_inputs() < 1) c.fail("needs at least one input");
    const Shape & first = c.in(0);
    const int axis = axis_of(c.attrs(), first.rank());
    if (axis < 0)
        c.fail("axis {} is out of range for shape {}", c.attrs().get_int("axis", -1), to_string(first));
    Shape out = first;
    for (int i = 1; i < c.num_inputs(); ++i) {
        const Shape & s = c.in(i);
        bool ok = s.rank() == first.rank() && c.in_dtype(i) == c.in_dtype(0);
        for (int d = 0; ok && d < s.rank(); ++d) ok = d == axis || s[d] == first[d];
        if (!ok)
            c.fail("input {} has shape {}, which does not fit {} along axis {}", i, to_string(s),
                   to_string(first), axis);
        out[axis] += s[axis];
    }
    return {out, c.in_dtype(0)};
}
// Each input is `outer` blocks of extent(axis) * inner contiguous values; the output interleaves the blocks.
void cpu(KernelCtx & k) {
    TensorView & y = k.out();
    const int axis = axis_of(k.attrs(), y.shape.rank());
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; ++d) outer *= y.shape[d];
    for (int d = axis + 1; d < y.shape.rank(); ++d) inner *= y.shape[d];
    const size_t width = dtype_size(y.dtype), out_row = static_cast<size_t>(y.shape[axis] * inner) * width;
    auto * py = static_cast<std::byte *>(y.data);
    size_t at = 0;  // byte offset of this input's block inside an output row
    for (const TensorView & x : k.inputs) {
        const size_t row = static_cast<size_t>(x.shape[axis] * inner) * width;
        const auto * px = static_cast<const std::byte *>(x.data);
        for (int64_t o = 0; o < outer; ++o)
            std::memcpy(py + static_cast<size_t>(o) * out_row + at, px + static_cast<size_t>(o) * row, row);
        at += row;
    }
}
// dx_i = slice(dy, along axis from the sum of the earlier extents, extent_i)
std::vector<Value> grad(GradCtx & g) {
    const Shape ys = g.out().shape();
    const int axis = axis_of(g.attrs(), ys.rank());
    std::vector<Value> out;
    int64_t start = 0;
    for (size_t i = 0; i < g.node().inputs.size(); ++i) {
        const Shape xs = g.in(static_cast<int>(i)).shape();
        std::vector<int64_t> begin(static_cast<size_t>(ys.rank()), 0), size = ys.dims;
        begin[static_cast<size_t>(axis)] = start;
        size[static_cast<size_t>(axis)] = xs[axis];
        out.push_back(g.op("slice", {g.dout()}, {{"begin", begin}, {"size", size}}));
        start += xs[axis];
    }
    return out;
}
std::string onnx(OnnxCtx & c) {
    std::vector<std::string> inputs;
    for (int i = 0; i < c.num_inputs(); ++i) inputs.push_back(c.in(i));
    return c.add("Concat", inputs, {{"axis", c.attrs().get_int("axis", -1)}});
}
}  // namespace
DL_REGISTER_OP({.name = "concat",
                .arity = -1,
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{2, 3}, {2, 4}}, {{3, 2}, {3, 1}, {3, 3}}, {{5}}}},
                .onnx = onnx});
}  // namespace dl
