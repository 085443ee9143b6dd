// y = act(conv(x, w) + b), channels last:  x [n, h, w, c], w [kh, kw, c / groups, f], b [f] -> [n, oh, ow, f].
// The bias and activation (linear | relu) are optional: the fusion pass folds conv2d -> bias_add -> relu into one.
// Computed as im2col + GEMM per group over fixed tiles of output pixels (a 1x1 convolution needs no patches).
// dz = dy * act'(y), dx = conv2d_backprop_input(dz, w), dw = conv2d_backprop_filter(x, dz), db = dz (un-broadcast
// centrally).
#include "ops/conv_util.h"

namespace dl {
namespace {
using StridedMap = Eigen::Map<RowMatrixXf, 0, Eigen::OuterStride<>>;
using ConstStridedMap = Eigen::Map<const RowMatrixXf, 0, Eigen::OuterStride<>>;

ConvGeometry geometry(const Node & n, const Shape & x, const Shape & w) {
    ConvGeometry g;
    const std::string err = conv_geometry(x.dims, w.dims, n.attrs, g);
    DL_ASSERT(err.empty());
    return g;
}

OutInfo infer(ShapeCtx & c) {
    if (c.num_inputs() != 2 && c.num_inputs() != 3) c.fail("expects (x, filter) or (x, filter, bias)");
    ConvGeometry g;
    if (const std::string err = conv_geometry(c.in(0).dims, c.in(1).dims, c.attrs(), g); !err.empty()) c.fail("{}", err);
    if (c.num_inputs() == 3 && (c.in(2).rank() != 1 || c.in(2)[0] != g.f))
        c.fail("bias {} does not match {} filters", to_string(c.in(2)), g.f);
    const std::string act = c.attrs().get_str("activation", "linear");
    if (act != "linear" && act != "relu") c.fail("activation must be linear or relu, got '{}'", act);
    return {Shape{g.n, g.oh, g.ow, g.f}};
}

// One tile of the patch matrix per thread.
size_t workspace(ShapeCtx & c, int threads) {
    const ConvGeometry g = geometry(c.node, c.in(0), c.in(1));
    if (g.pointwise()) return 0;
    return static_cast<size_t>(threads) * static_cast<size_t>(kConvTileRows * g.patch()) * sizeof(float);
}

void cpu(KernelCtx & k) {
    const ConvGeometry g = geometry(k.node, k.in(0).shape, k.in(1).shape);
    const float *x = k.in(0).f32(), *w = k.in(1).f32();
    const float * bias = k.inputs.size() == 3 ? k.in(2).f32() : nullptr;
    const bool relu = k.attrs().get_str("activation", "linear") == "relu";
    float * y = k.out().f32();
    const int64_t rows = g.rows(), patch = g.patch(), fg = g.fg(), tile_rows = conv_tile_rows(rows);
    const int64_t tiles = (rows + tile_rows - 1) / tile_rows;
    auto tile = [&](int64_t t) {
        const int64_t r0 = t * tile_rows, count = std::min(tile_rows, rows - r0);
        StridedMap out(y + r0 * g.f, count, g.f, Eigen::OuterStride<>(g.f));
        if (g.pointwise()) {
            out.noalias() = ConstMatrixMap(x + r0 * g.c, count, g.c) * ConstMatrixMap(w, g.c, g.f);
        } else {
            float * col = reinterpret_cast<float *>(k.workspace) + ThreadPool::worker_index() * kConvTileRows * patch;
            for (int64_t grp = 0; grp < g.groups; ++grp) {
                im2col(g, x, grp, r0, count, col);
                StridedMap(y + r0 * g.f + grp * fg, count, fg, Eigen::OuterStride<>(g.f)).noalias() =
                    ConstMatrixMap(col, count, patch) * ConstStridedMap(w + grp * fg, patch, fg, Eigen::OuterStride<>(g.f));
            }
        }
        // Same two roundings as bias_add followed by relu, so fusing changes no bit.
        if (bias) out.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(bias, g.f);
        if (relu) out = out.array().max(0.0f);
    };
    if (rows * g.f * patch < (1 << 16)) {
        for (int64_t t = 0; t < tiles; ++t) tile(t);
    } else {
        k.pool.parallel_for(tiles, tile);
    }
}

std::vector<Value> grad(GradCtx & g) {
    Value dz = g.dout();
    if (g.attrs().get_str("activation", "linear") == "relu") dz = dz * g.op("step", {g.out()});
    Attrs in_attrs = conv_attrs(g.attrs()), w_attrs = conv_attrs(g.attrs());
    in_attrs.set("input_shape", g.in(0).shape().dims);
    w_attrs.set("filter_shape", g.in(1).shape().dims);
    std::vector<Value> grads = {g.op("conv2d_backprop_input", {dz, g.in(1)}, in_attrs),
                                g.op("conv2d_backprop_filter", {g.in(0), dz}, w_attrs)};
    if (g.node().inputs.size() == 3) grads.push_back(dz);
    return grads;
}
}  // namespace
DL_REGISTER_OP({.name = "conv2d", .arity = -1, .infer = infer, .cpu = cpu, .grad = grad,
                .workspace = workspace,
                .test = {.cases = {{{2, 5, 6, 3}, {3, 2, 3, 4}}, {{1, 4, 4, 2}, {1, 1, 2, 3}}},
                         .attrs = {{"padding", std::string("same")}}}});
}  // namespace dl
