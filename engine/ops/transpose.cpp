// y = x with its axes permuted: y.shape[i] = x.shape[perm[i]]; `perm` defaults to reversing the axes (numpy).
#include <cstring>

#include "ops/kernel_util.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
std::vector<int64_t> perm_of(const Attrs & a, int rank) {
    std::vector<int64_t> p = a.get_ints("perm");
    if (p.empty())
        for (int d = rank - 1; d >= 0; --d) p.push_back(d);
    return p;
}
OutInfo infer(ShapeCtx & c) {
    const Shape & x = c.in(0);
    const std::vector<int64_t> p = perm_of(c.attrs(), x.rank());
    if (x.rank() > kMaxRank) c.fail("supports at most {} axes, got {}", kMaxRank, x.rank());
    std::vector<bool> seen(static_cast<size_t>(x.rank()), false);
    bool ok = static_cast<int>(p.size()) == x.rank();
    for (int64_t d : p) {
        ok = ok && d >= 0 && d < x.rank() && !seen[static_cast<size_t>(d)];
        if (ok) seen[static_cast<size_t>(d)] = true;
    }
    if (!ok)
        c.fail("perm [{}] is not a permutation of the {} axes of {}", fmt::join(p, ", "), x.rank(),
               to_string(x));
    Shape out;
    for (int64_t d : p) out.dims.push_back(x[static_cast<int>(d)]);
    return {out, c.in_dtype(0)};
}
void cpu(KernelCtx & k) {
    const TensorView & x = k.in(0);
    TensorView & y = k.out();
    const int rank = y.shape.rank();
    const std::span<const int64_t> given =
        k.attrs().ints("perm");  // a view: the training step must not allocate
    int64_t p[kMaxRank] = {};
    for (int i = 0; i < rank; ++i) p[i] = given.empty() ? rank - 1 - i : given[static_cast<size_t>(i)];
    if (rank == 2 && p[0] == 1 && y.dtype == DType::f32) {
        y.matrix() = x.matrix().transpose();
        return;
    }
    // Stride in x of each output axis; walk the output in order with an odometer.
    int64_t xstride[kMaxRank] = {}, st = 1, xs_of[kMaxRank] = {};
    for (int d = rank - 1; d >= 0; --d) {
        xs_of[d] = st;
        st *= x.shape[d];
    }
    for (int i = 0; i < rank; ++i) xstride[i] = xs_of[p[i]];
    const size_t width = dtype_size(y.dtype);
    const auto * px = static_cast<const std::byte *>(x.data);
    auto * py = static_cast<std::byte *>(y.data);
    parallel_chunks(k.pool, y.numel(), [&](int64_t b, int64_t e) {
        int64_t idx[kMaxRank] = {}, off = 0, rem = b;
        for (int d = rank - 1; d >= 0; --d) {
            idx[d] = rem % y.shape[d];
            rem /= y.shape[d];
            off += idx[d] * xstride[d];
        }
        for (int64_t i = b; i < e; ++i) {
            std::memcpy(py + static_cast<size_t>(i) * width, px + static_cast<size_t>(off) * width, width);
            for (int d = rank - 1; d >= 0; --d) {
                off += xstride[d];
                if (++idx[d] < y.shape[d]) break;
                off -= idx[d] * xstride[d];
                idx[d] = 0;
            }
        }
    });
}
// dx = transpose(dy, inverse(perm))
std::vector<Value> grad(GradCtx & g) {
    const std::vector<int64_t> p = perm_of(g.attrs(), g.in(0).shape().rank());
    std::vector<int64_t> inv(p.size());
    for (size_t i = 0; i < p.size(); ++i) inv[static_cast<size_t>(p[i])] = static_cast<int64_t>(i);
    return {g.op("transpose", {g.dout()}, {{"perm", inv}})};
}
std::string onnx(OnnxCtx & c) {
    const std::vector<int64_t> p = perm_of(c.attrs(), c.in_shape(0).rank());
    if (c.batched(0) && !p.empty() && p[0] != 0) c.fail("moves the batch axis");
    return c.add("Transpose", {c.in(0)}, {{"perm", p}});
}
}  // namespace
DL_REGISTER_OP({.name = "transpose",
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{2, 3, 4}}, {{4, 1, 3}}},
                         .attrs = {{"perm", std::vector<int64_t>{2, 0, 1}}}},
                .onnx = onnx});
}  // namespace dl
