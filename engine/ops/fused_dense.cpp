// y = act(x W + b): what the fusion pass makes of matmul -> bias_add -> activation (activation: none, relu,
// sigmoid, tanh).   [m, k] x [k, n] + [n] -> [m, n]
// dz = dy * act'(y) (each written with y), dx = dz W^T, dW = x^T dz, db = dz (un-broadcast centrally).
#include "ops/kernel_util.h"

namespace dl {
namespace {
constexpr int64_t kTileRows = 32;  // the same tiles as matmul, so fusion does not change a bit of the result
constexpr int64_t kFewRows = 4, kColumnBlock = 64;  // and the same column split for a few rows

OutInfo infer(ShapeCtx & c) {
    const Shape &x = c.in(0), &w = c.in(1), &b = c.in(2);
    if (x.rank() != 2 || w.rank() != 2 || x[1] != w[0] || b.rank() != 1 || b[0] != w[1])
        c.fail("shapes {} x {} + {} do not fit", to_string(x), to_string(w), to_string(b));
    const std::string act = c.attrs().get_str("activation", "none");
    if (act != "none" && act != "relu" && act != "sigmoid" && act != "tanh")
        c.fail("unknown activation '{}'", act);
    return {Shape{x[0], w[1]}};
}

void cpu(KernelCtx & k) {
    const MatrixMap x = k.in(0).matrix(), w = k.in(1).matrix();
    const auto b = k.in(2).matrix();  // [1, n]
    MatrixMap y = k.out().matrix();
    const std::string act = k.attrs().get_str("activation", "none");
    const int64_t m = y.rows(), tiles = (m + kTileRows - 1) / kTileRows;
    // Same two roundings as bias_add followed by the activation op.
    auto finish = [&](auto out, auto bias) {
        out.rowwise() += bias;
        auto a = out.array();
        if (act == "relu")
            a = a.max(0.0f);
        else if (act == "sigmoid")
            a = 1.0f / (1.0f + (-a).exp());
        else if (act == "tanh")
            a = a.tanh();
    };
    auto tile = [&](int64_t t) {
        const int64_t r0 = t * kTileRows, rows = std::min(kTileRows, m - r0);
        auto out = y.middleRows(r0, rows);
        out.noalias() = x.middleRows(r0, rows) * w;
        finish(out, b.row(0));
    };
    if (m * y.cols() * x.cols() < (1 << 17)) {
        for (int64_t t = 0; t < tiles; ++t) tile(t);
    } else if (m <= kFewRows) {  // as matmul: batch-1 inference splits the columns
        const int64_t blocks = (y.cols() + kColumnBlock - 1) / kColumnBlock;
        k.pool.parallel_for(blocks, [&](int64_t j) {
            const int64_t c0 = j * kColumnBlock, cols = std::min(kColumnBlock, y.cols() - c0);
            auto out = y.middleCols(c0, cols);
            out.noalias() = x * w.middleCols(c0, cols);
            finish(out, b.row(0).segment(c0, cols));
        });
    } else {
        k.pool.parallel_for(tiles, tile);
    }
}

std::vector<Value> grad(GradCtx & g) {
    const std::string act = g.attrs().get_str("activation", "none");
    Value y = g.out(), dz = g.dout();
    if (act == "relu")
        dz = dz * g.op("step", {y});
    else if (act == "sigmoid")
        dz = dz * (y * (1.0f - y));
    else if (act == "tanh")
        dz = dz * (1.0f - y * y);
    Value dx = g.op("matmul", {dz, g.in(1)}, {{"transpose_b", int64_t{1}}});
    Value dw = g.op("matmul", {g.in(0), dz}, {{"transpose_a", int64_t{1}}});
    return {dx, dw, dz};
}
}  // namespace
DL_REGISTER_OP({.name = "fused_dense",
                .arity = 3,
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{5, 4}, {4, 3}, {3}}}, .attrs = {{"activation", std::string("tanh")}}}});
}  // namespace dl
