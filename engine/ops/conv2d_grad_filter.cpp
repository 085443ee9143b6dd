// dw = the gradient of conv2d with respect to its filter: x [n, h, w, c], dz [n, oh, ow, f] -> dw
// [`filter_shape`] = patches(x)^T dz per group. Linear in both inputs: dx = conv2d_grad(dz, g),
// d(dz) = conv2d(x, g). Per Note [determinism], the sum over output pixels runs in fixed chunks of kChunkRows
// rows, each into its own partial in the workspace, and the partials are added in chunk order, so the result
// does not depend on threads.
#include "ops/conv_util.h"

namespace dl {
namespace {
using StridedMap = Eigen::Map<RowMatrixXf, 0, Eigen::OuterStride<>>;
using ConstStridedMap = Eigen::Map<const RowMatrixXf, 0, Eigen::OuterStride<>>;
constexpr int64_t kChunkRows = 8 * kConvTileRows;

ConvGeometry geometry(const Attrs & attrs, const Shape & x) {
    ConvGeometry g;
    const std::string err = conv_geometry(x.dims, attrs.ints("filter_shape"), attrs, g);
    DL_ASSERT(err.empty());
    return g;
}

OutInfo infer(ShapeCtx & c) {
    const Shape w(c.attrs().get_ints("filter_shape"));
    ConvGeometry g;
    if (const std::string err = conv_geometry(c.in(0).dims, w.dims, c.attrs(), g); !err.empty())
        c.fail("{}", err);
    if (c.in(1) != Shape{g.n, g.oh, g.ow, g.f})
        c.fail("output gradient {} does not match the convolution's output [{}, {}, {}, {}]",
               to_string(c.in(1)), g.n, g.oh, g.ow, g.f);
    return {w};
}

int64_t chunks_of(const ConvGeometry & g) { return (g.rows() + kChunkRows - 1) / kChunkRows; }

// The partial sums of every chunk but the first (which goes straight to the output), then a patch tile per
// thread.
size_t workspace(ShapeCtx & c, int threads) {
    const ConvGeometry g = geometry(c.attrs(), c.in(0));
    const int64_t partials = (chunks_of(g) - 1) * g.patch() * g.f;
    const int64_t tiles = g.pointwise() ? 0 : threads * kConvTileRows * g.patch();
    return static_cast<size_t>(partials + tiles) * sizeof(float);
}

void cpu(KernelCtx & k) {
    const ConvGeometry g = geometry(k.attrs(), k.in(0).shape);
    const float *x = k.in(0).f32(), *dz = k.in(1).f32();
    const int64_t patch = g.patch(), fg = g.fg(), rows = g.rows(), chunks = chunks_of(g), size = patch * g.f;
    float * partials = reinterpret_cast<float *>(k.workspace);
    float * tiles = partials + (chunks - 1) * size;
    auto chunk = [&](int64_t ch) {
        float * sum = ch == 0 ? k.out().f32() : partials + (ch - 1) * size;
        std::memset(sum, 0, static_cast<size_t>(size) * sizeof(float));
        const int64_t end = std::min(rows, (ch + 1) * kChunkRows);
        float * col = tiles + ThreadPool::worker_index() * kConvTileRows * patch;
        for (int64_t r0 = ch * kChunkRows; r0 < end; r0 += kConvTileRows) {
            const int64_t count = std::min(kConvTileRows, end - r0);
            if (g.pointwise()) {
                MatrixMap(sum, g.c, g.f).noalias() += ConstMatrixMap(x + r0 * g.c, count, g.c).transpose() *
                                                      ConstMatrixMap(dz + r0 * g.f, count, g.f);
                continue;
            }
            for (int64_t grp = 0; grp < g.groups; ++grp) {
                im2col(g, x, grp, r0, count, col);
                StridedMap(sum + grp * fg, patch, fg, Eigen::OuterStride<>(g.f)).noalias() +=
                    ConstMatrixMap(col, count, patch).transpose() *
                    ConstStridedMap(dz + r0 * g.f + grp * fg, count, fg, Eigen::OuterStride<>(g.f));
            }
        }
    };
    const bool parallel = rows * g.f * patch >= (1 << 17);
    if (parallel)
        k.pool.parallel_for(chunks, chunk);
    else
        for (int64_t ch = 0; ch < chunks; ++ch) chunk(ch);
    if (chunks == 1) return;
    float * dw = k.out().f32();
    auto add_partials = [&](int64_t b, int64_t e) {
        for (int64_t ch = 1; ch < chunks; ++ch) {
            const float * p = partials + (ch - 1) * size;
            for (int64_t i = b; i < e; ++i) dw[i] += p[i];
        }
    };
    if (parallel)
        parallel_chunks(k.pool, size, add_partials);
    else
        add_partials(0, size);
}

std::vector<Value> grad(GradCtx & g) {
    Attrs in_attrs = conv_attrs(g.attrs());
    in_attrs.set("input_shape", g.in(0).shape().dims);
    return {g.op("conv2d_grad", {g.in(1), g.dout()}, in_attrs),
            g.op("conv2d", {g.in(0), g.dout()}, conv_attrs(g.attrs()))};
}
}  // namespace
DL_REGISTER_OP({.name = "conv2d_grad_filter",
                .arity = 2,
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .workspace = workspace,
                .test = {.cases = {{{2, 5, 6, 3}, {2, 5, 6, 4}}},
                         .attrs = {{"padding", std::string("same")},
                                   {"filter_shape", std::vector<int64_t>{3, 2, 3, 4}}}}});
}  // namespace dl
