// y = x with zeros added: `before[d]` values ahead of and `after[d]` values behind axis d (the gradient of
// slice).
//   [2, 3] before [1, 0] after [0, 2] -> [3, 5]
#include <cstring>

#include "ops/kernel_util.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) {
    const Shape & x = c.in(0);
    const std::vector<int64_t> before = c.attrs().get_ints("before"), after = c.attrs().get_ints("after");
    if (static_cast<int>(before.size()) != x.rank() || static_cast<int>(after.size()) != x.rank())
        c.fail("needs `before` and `after` with one entry per axis of {}, got [{}] and [{}]", to_string(x),
               fmt::join(before, ", "), fmt::join(after, ", "));
    if (x.rank() > kMaxRank) c.fail("supports at most {} axes, got {}", kMaxRank, x.rank());
    Shape out = x;
    for (int d = 0; d < x.rank(); ++d) {
        if (before[static_cast<size_t>(d)] < 0 || after[static_cast<size_t>(d)] < 0)
            c.fail("padding must not be negative, got before [{}] after [{}]", fmt::join(before, ", "),
                   fmt::join(after, ", "));
        out[d] += before[static_cast<size_t>(d)] + after[static_cast<size_t>(d)];
    }
    return {out, c.in_dtype(0)};
}
// Zero the output, then copy each run along x's last axis to its place; the odometer walks x's leading axes.
void cpu(KernelCtx & k) {
    const TensorView & x = k.in(0);
    TensorView & y = k.out();
    const int rank = x.shape.rank();
    const std::span<const int64_t> before =
        k.attrs().ints("before");  // a view: the training step must not allocate
    const size_t width = dtype_size(y.dtype);
    std::memset(y.data, 0, y.bytes());
    if (x.numel() == 0) return;
    if (rank == 0) {
        std::memcpy(y.data, x.data, width);
        return;
    }
    int64_t ystride[kMaxRank] = {}, st = 1, off = 0;
    for (int d = rank - 1; d >= 0; --d) {
        ystride[d] = st;
        off += before[static_cast<size_t>(d)] * st;
        st *= y.shape[d];
    }
    const int64_t run = x.shape[rank - 1], rows = x.numel() / run;
    const auto * px = static_cast<const std::byte *>(x.data);
    auto * py = static_cast<std::byte *>(y.data);
    int64_t idx[kMaxRank] = {};
    for (int64_t r = 0; r < rows; ++r) {
        std::memcpy(py + static_cast<size_t>(off) * width, px + static_cast<size_t>(r * run) * width,
                    static_cast<size_t>(run) * width);
        for (int d = rank - 2; d >= 0; --d) {
            off += ystride[d];
            if (++idx[d] < x.shape[d]) break;
            off -= idx[d] * ystride[d];
            idx[d] = 0;
        }
    }
}
// dx = slice(dy, begin = before, size = x.shape)
std::vector<Value> grad(GradCtx & g) {
    return {
        g.op("slice", {g.dout()}, {{"begin", g.attrs().get_ints("before")}, {"size", g.in(0).shape().dims}})};
}
// Pad (constant zeros), `pads` as ONNX orders them: every axis' before, then every axis' after.
std::string onnx(OnnxCtx & c) {
    std::vector<int64_t> pads = c.attrs().get_ints("before");
    const std::vector<int64_t> after = c.attrs().get_ints("after");
    if (c.batched(0) && (pads[0] != 0 || after[0] != 0)) c.fail("pads the batch axis");
    pads.insert(pads.end(), after.begin(), after.end());
    return c.add("Pad", {c.in(0), c.ints(pads)});
}
}  // namespace
DL_REGISTER_OP({.name = "pad",
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{2, 3}}, {{1, 1}}},
                         .attrs = {{"before", std::vector<int64_t>{1, 0}},
                                   {"after", std::vector<int64_t>{0, 2}}}},
                .onnx = onnx});
}  // namespace dl
