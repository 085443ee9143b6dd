// y = x[begin[d] : begin[d] + size[d]] on every axis d (TensorFlow's tf.slice form: one `begin` and one
// `size` per axis, size -1 = to the end). One form for all axes, so concat's gradient is a single slice per
// input.
//   [4, 6] begin [1, 2] size [2, -1] -> [2, 4]
#include <cstring>
#include <limits>

#include "ops/kernel_util.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) {
    const Shape & x = c.in(0);
    const std::vector<int64_t> begin = c.attrs().get_ints("begin"), size = c.attrs().get_ints("size");
    if (static_cast<int>(begin.size()) != x.rank() || static_cast<int>(size.size()) != x.rank())
        c.fail("needs `begin` and `size` with one entry per axis of {}, got [{}] and [{}]", to_string(x),
               fmt::join(begin, ", "), fmt::join(size, ", "));
    if (x.rank() > kMaxRank) c.fail("supports at most {} axes, got {}", kMaxRank, x.rank());
    Shape out;
    for (int d = 0; d < x.rank(); ++d) {
        const int64_t b = begin[static_cast<size_t>(d)], s = size[static_cast<size_t>(d)];
        const int64_t n = s == -1 ? x[d] - b : s;
        if (b < 0 || b > x[d] || n < 0 || b + n > x[d])
            c.fail("begin {} size {} on axis {} is outside the extent {} of {}", b, s, d, x[d], to_string(x));
        out.dims.push_back(n);
    }
    return {out, c.in_dtype(0)};
}
// Copies contiguous runs along the last axis; the odometer walks the output's leading axes.
void cpu(KernelCtx & k) {
    const TensorView & x = k.in(0);
    TensorView & y = k.out();
    const int rank = y.shape.rank();
    const std::span<const int64_t> begin =
        k.attrs().ints("begin");  // a view: the training step must not allocate
    const size_t width = dtype_size(y.dtype);
    if (y.numel() == 0) return;
    if (rank == 0) {
        std::memcpy(y.data, x.data, width);
        return;
    }
    int64_t xstride[kMaxRank] = {}, st = 1, off = 0;
    for (int d = rank - 1; d >= 0; --d) {
        xstride[d] = st;
        off += begin[static_cast<size_t>(d)] * st;
        st *= x.shape[d];
    }
    const int64_t run = y.shape[rank - 1], rows = y.numel() / run;
    const auto * px = static_cast<const std::byte *>(x.data);
    auto * py = static_cast<std::byte *>(y.data);
    int64_t idx[kMaxRank] = {};
    for (int64_t r = 0; r < rows; ++r) {
        std::memcpy(py + static_cast<size_t>(r * run) * width, px + static_cast<size_t>(off) * width,
                    static_cast<size_t>(run) * width);
        for (int d = rank - 2; d >= 0; --d) {
            off += xstride[d];
            if (++idx[d] < y.shape[d]) break;
            off -= idx[d] * xstride[d];
            idx[d] = 0;
        }
    }
}
// dx = pad(dy, before = begin, after = x.shape - begin - y.shape) with zeros
std::vector<Value> grad(GradCtx & g) {
    const Shape xs = g.in(0).shape(), ys = g.out().shape();
    const std::vector<int64_t> begin = g.attrs().get_ints("begin");
    std::vector<int64_t> after;
    for (int d = 0; d < xs.rank(); ++d) after.push_back(xs[d] - begin[static_cast<size_t>(d)] - ys[d]);
    return {g.op("pad", {g.dout()}, {{"before", begin}, {"after", after}})};
}
// Slice on the axes it cuts; an axis taken whole is left out, so the batch axis stays dynamic.
std::string onnx(OnnxCtx & c) {
    const Shape & x = c.in_shape(0);
    const std::vector<int64_t> begin = c.attrs().get_ints("begin"), size = c.attrs().get_ints("size");
    std::vector<int64_t> starts, ends, axes;
    for (int d = 0; d < x.rank(); ++d) {
        const int64_t b = begin[static_cast<size_t>(d)], s = size[static_cast<size_t>(d)];
        if (b == 0 && (s == -1 || s == x[d])) continue;
        if (d == 0 && c.batched(0)) c.fail("slices the batch axis");
        starts.push_back(b);
        ends.push_back(s == -1 ? std::numeric_limits<int64_t>::max() : b + s);
        axes.push_back(d);
    }
    if (axes.empty()) return c.add("Identity", {c.in(0)});
    return c.add("Slice", {c.in(0), c.ints(starts), c.ints(ends), c.ints(axes)});
}
}  // namespace
DL_REGISTER_OP({.name = "slice",
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{4, 6}}, {{3, 5}}},
                         .attrs = {{"begin", std::vector<int64_t>{1, 2}},
                                   {"size", std::vector<int64_t>{2, -1}}}},
                .onnx = onnx});
}  // namespace dl
