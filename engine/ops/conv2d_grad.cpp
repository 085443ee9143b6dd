// dx = the gradient of conv2d with respect to its input: dz [n, oh, ow, f], w [kh, kw, c / groups, f] -> dx
// [`input_shape`]. Per group, the patch gradients dz W^T are added back onto the pixels they came from
// (col2im). Linear in both inputs: d(dz) = conv2d(g, w), dw = conv2d_grad_filter(g, dz). Per Note
// [determinism], one task per image, its tiles in order, so overlapping windows add up in a fixed order.
#include "ops/conv_util.h"

namespace dl {
namespace {
using ConstStridedMap = Eigen::Map<const RowMatrixXf, 0, Eigen::OuterStride<>>;

ConvGeometry geometry(const Attrs & attrs, const Shape & w) {
    ConvGeometry g;
    const std::string err = conv_geometry(attrs.ints("input_shape"), w.dims, attrs, g);
    DL_ASSERT(err.empty());
    return g;
}

OutInfo infer(ShapeCtx & c) {
    const Shape x(c.attrs().get_ints("input_shape"));
    ConvGeometry g;
    if (const std::string err = conv_geometry(x.dims, c.in(1).dims, c.attrs(), g); !err.empty())
        c.fail("{}", err);
    if (c.in(0) != Shape{g.n, g.oh, g.ow, g.f})
        c.fail("output gradient {} does not match the convolution's output [{}, {}, {}, {}]",
               to_string(c.in(0)), g.n, g.oh, g.ow, g.f);
    return {x};
}

size_t workspace(ShapeCtx & c, int threads) {
    const ConvGeometry g = geometry(c.attrs(), c.in(1));
    if (g.pointwise()) return 0;
    return static_cast<size_t>(threads) * static_cast<size_t>(kConvTileRows * g.patch()) * sizeof(float);
}

void cpu(KernelCtx & k) {
    const ConvGeometry g = geometry(k.attrs(), k.in(1).shape);
    const float *dz = k.in(0).f32(), *w = k.in(1).f32();
    float * dx = k.out().f32();
    const int64_t patch = g.patch(), fg = g.fg(), pixels = g.oh * g.ow, image = g.h * g.w * g.c;
    auto one_image = [&](int64_t n) {
        float * dxn = dx + n * image;
        if (g.pointwise()) {
            for (int64_t r0 = 0; r0 < pixels; r0 += kConvTileRows) {
                const int64_t count = std::min(kConvTileRows, pixels - r0);
                MatrixMap(dxn + r0 * g.c, count, g.c).noalias() =
                    ConstMatrixMap(dz + (n * pixels + r0) * g.f, count, g.f) *
                    ConstMatrixMap(w, g.c, g.f).transpose();
            }
            return;
        }
        std::memset(dxn, 0, static_cast<size_t>(image) * sizeof(float));
        float * col =
            reinterpret_cast<float *>(k.workspace) + ThreadPool::worker_index() * kConvTileRows * patch;
        for (int64_t r0 = 0; r0 < pixels; r0 += kConvTileRows) {
            const int64_t count = std::min(kConvTileRows, pixels - r0);
            for (int64_t grp = 0; grp < g.groups; ++grp) {
                MatrixMap(col, count, patch).noalias() =
                    ConstStridedMap(dz + (n * pixels + r0) * g.f + grp * fg, count, fg,
                                    Eigen::OuterStride<>(g.f)) *
                    ConstStridedMap(w + grp * fg, patch, fg, Eigen::OuterStride<>(g.f)).transpose();
                col2im_add(g, col, grp, n * pixels + r0, count, dx);
            }
        }
    };
    if (g.rows() * g.f * patch < (1 << 17)) {
        for (int64_t n = 0; n < g.n; ++n) one_image(n);
    } else {
        k.pool.parallel_for(g.n, one_image);
    }
}

std::vector<Value> grad(GradCtx & g) {
    Attrs w_attrs = conv_attrs(g.attrs());
    w_attrs.set("filter_shape", g.in(1).shape().dims);
    return {g.op("conv2d", {g.dout(), g.in(1)}, conv_attrs(g.attrs())),
            g.op("conv2d_grad_filter", {g.dout(), g.in(0)}, w_attrs)};
}
}  // namespace
DL_REGISTER_OP({.name = "conv2d_grad",
                .arity = 2,
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .workspace = workspace,
                .test = {.cases = {{{2, 5, 6, 4}, {3, 2, 3, 4}}},
                         .attrs = {{"padding", std::string("same")},
                                   {"input_shape", std::vector<int64_t>{2, 5, 6, 3}}}}});
}  // namespace dl
