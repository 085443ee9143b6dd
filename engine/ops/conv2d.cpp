// y = act(conv(x, w) + b), channels last:  x [n, h, w, c], w [kh, kw, c / groups, f], b [f] -> [n, oh, ow,
// f]. The bias and activation (linear | relu) are optional: the fusion pass folds conv2d -> bias_add -> relu
// into one. Computed as im2col + GEMM per group over fixed tiles of output pixels (a 1x1 convolution needs no
// patches, a layer on 1 to 4 channels sums its taps directly). dz = dy * act'(y), dx =
// conv2d_grad(dz, w), dw = conv2d_grad_filter(x, dz), db = dz (un-broadcast centrally).
#include "ops/conv_util.h"
#include "ops/onnx_ctx.h"

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
    if (const std::string err = conv_geometry(c.in(0).dims, c.in(1).dims, c.attrs(), g); !err.empty())
        c.fail("{}", err);
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

// A first layer on 1 to 4 channels has patches of a few values, too short an inner dimension for a GEMM (it
// spends its time packing): each output pixel sums its taps (in order ky, kx, c) into its filters, 16 at a
// time in vector registers, the taps' offsets computed once. Twice as fast as im2col + GEMM on the
// Fashion-MNIST CNN's first layer.
constexpr int64_t kDirectTaps = 64;
bool direct_fits(const ConvGeometry & g) {
    return g.groups == 1 && g.c <= 4 && g.f % 16 == 0 && g.f <= 64 && g.patch() <= kDirectTaps &&
           !g.pointwise();
}

template <int Blocks>
void direct_rows(const ConvGeometry & g, const float * x, const float * w, int64_t r0, int64_t count,
                 float * out) {
    using Lanes = Eigen::Array<float, 16, 1>;
    const int64_t pixels = g.oh * g.ow, f = g.f, taps = g.patch();
    int64_t offset
        [kDirectTaps];  // of each tap from the window's first pixel, when the window is inside the image
    for (int64_t ky = 0, t = 0; ky < g.kh; ++ky)
        for (int64_t kx = 0; kx < g.kw; ++kx)
            for (int64_t c = 0; c < g.c; ++c) offset[t++] = (ky * g.dh * g.w + kx * g.dw) * g.c + c;
    int64_t n = r0 / pixels, oy = (r0 % pixels) / g.ow, ox = r0 % g.ow;
    for (int64_t r = 0; r < count; ++r) {
        Lanes acc[Blocks];
        for (auto & a : acc) a.setZero();
        const int64_t iy0 = oy * g.sh - g.pad_top, ix0 = ox * g.sw - g.pad_left;
        if (iy0 >= 0 && iy0 + (g.kh - 1) * g.dh < g.h && ix0 >= 0 && ix0 + (g.kw - 1) * g.dw < g.w) {
            const float * window = x + ((n * g.h + iy0) * g.w + ix0) * g.c;
            for (int64_t t = 0; t < taps; ++t) {
                const float v = window[offset[t]];
                for (int b = 0; b < Blocks; ++b) acc[b] += v * Eigen::Map<const Lanes>(w + t * f + 16 * b);
            }
        } else {  // a window over the padding: skip the taps outside the image
            for (int64_t ky = 0, t = 0; ky < g.kh; ++ky) {
                for (int64_t kx = 0; kx < g.kw; ++kx, t += g.c) {
                    const int64_t iy = iy0 + ky * g.dh, ix = ix0 + kx * g.dw;
                    if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
                    const float * px = x + ((n * g.h + iy) * g.w + ix) * g.c;
                    for (int64_t c = 0; c < g.c; ++c)
                        for (int b = 0; b < Blocks; ++b)
                            acc[b] += px[c] * Eigen::Map<const Lanes>(w + (t + c) * f + 16 * b);
                }
            }
        }
        for (int b = 0; b < Blocks; ++b) Eigen::Map<Lanes>(out + r * f + 16 * b) = acc[b];
        if (++ox == g.ow) {
            ox = 0;
            if (++oy == g.oh) oy = 0, ++n;
        }
    }
}

void direct(const ConvGeometry & g, const float * x, const float * w, int64_t r0, int64_t count,
            float * out) {
    switch (g.f / 16) {
        case 1:
            return direct_rows<1>(g, x, w, r0, count, out);
        case 2:
            return direct_rows<2>(g, x, w, r0, count, out);
        case 3:
            return direct_rows<3>(g, x, w, r0, count, out);
        default:
            return direct_rows<4>(g, x, w, r0, count, out);
    }
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
        } else if (direct_fits(g)) {
            direct(g, x, w, r0, count, y + r0 * g.f);
        } else {
            float * col =
                reinterpret_cast<float *>(k.workspace) + ThreadPool::worker_index() * kConvTileRows * patch;
            for (int64_t grp = 0; grp < g.groups; ++grp) {
                im2col(g, x, grp, r0, count, col);
                StridedMap(y + r0 * g.f + grp * fg, count, fg, Eigen::OuterStride<>(g.f)).noalias() =
                    ConstMatrixMap(col, count, patch) *
                    ConstStridedMap(w + grp * fg, patch, fg, Eigen::OuterStride<>(g.f));
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
    std::vector<Value> grads = {g.op("conv2d_grad", {dz, g.in(1)}, in_attrs),
                                g.op("conv2d_grad_filter", {g.in(0), dz}, w_attrs)};
    if (g.node().inputs.size() == 3) grads.push_back(dz);
    return grads;
}
// ONNX's Conv is channels first with [f, c / groups, kh, kw] filters: the input is transposed around it
// (channels_first) and a known filter converted at export; "same" becomes explicit pads.
std::string onnx(OnnxCtx & c) {
    const ConvGeometry g = geometry(c.node(), c.in_shape(0), c.in_shape(1));
    std::string w;
    if (const Tensor * hwio = c.in_value(1)) {
        Tensor oihw(Shape{g.f, g.cg(), g.kh, g.kw});
        for (int64_t y = 0; y < g.kh; ++y)
            for (int64_t x = 0; x < g.kw; ++x)
                for (int64_t i = 0; i < g.cg(); ++i)
                    for (int64_t o = 0; o < g.f; ++o)
                        oihw.f32()[((o * g.cg() + i) * g.kh + y) * g.kw + x] =
                            hwio->f32()[((y * g.kw + x) * g.cg() + i) * g.f + o];
        w = c.initializer(oihw);
    } else {
        w = c.add("Transpose", {c.in(1)}, {{"perm", std::vector<int64_t>{3, 2, 0, 1}}});
    }
    std::vector<std::string> inputs = {c.in(0), w};
    if (c.num_inputs() == 3) inputs.push_back(c.in(2));
    const int64_t bottom = onnx_pad_after(g.h, g.oh, (g.kh - 1) * g.dh + 1, g.sh, g.pad_top);
    const int64_t right = onnx_pad_after(g.w, g.ow, (g.kw - 1) * g.dw + 1, g.sw, g.pad_left);
    const Attrs attrs = {{"kernel_shape", std::vector<int64_t>{g.kh, g.kw}},
                         {"strides", std::vector<int64_t>{g.sh, g.sw}},
                         {"dilations", std::vector<int64_t>{g.dh, g.dw}},
                         {"pads", std::vector<int64_t>{g.pad_top, g.pad_left, bottom, right}},
                         {"group", g.groups}};
    const bool relu = c.attrs().get_str("activation", "linear") == "relu";
    return c.channels_first("Conv", inputs, attrs, relu ? "Relu" : "");
}
}  // namespace
DL_REGISTER_OP({.name = "conv2d",
                .arity = -1,
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .workspace = workspace,
                .test = {.cases = {{{2, 5, 6, 3}, {3, 2, 3, 4}}, {{1, 4, 4, 2}, {1, 1, 2, 3}}},
                         .attrs = {{"padding", std::string("same")}}},
                .onnx = onnx});
}  // namespace dl
