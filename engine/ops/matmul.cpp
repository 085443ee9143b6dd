// C = op(A) op(B), op = transpose when the attribute says so.   [m, k] x [k, n] -> [m, n] dA = dC op(B)^T, dB
// = op(A)^T dC, each written as another matmul with the right transposes. Per Note [determinism], the output
// is always computed in fixed tiles of kTileRows rows with single-threaded Eigen, tiles spread over the pool,
// so the result is the same at any thread count.
#include "ops/kernel_util.h"
#include "ops/onnx_ctx.h"

namespace dl {
namespace {
constexpr int64_t kTileRows = 32;
// A product of a few rows (batch-1 inference) is one tile: its columns are split over the threads instead, in
// blocks fixed by the shape (fused_dense splits the same way, so fusing changes no bit).
constexpr int64_t kFewRows = 4, kColumnBlock = 64;

OutInfo infer(ShapeCtx & c) {
    const Shape &a = c.in(0), &b = c.in(1);
    if (a.rank() != 2 || b.rank() != 2)
        c.fail("expects two matrices, got {} and {}", to_string(a), to_string(b));
    const bool ta = c.attrs().get_int("transpose_a"), tb = c.attrs().get_int("transpose_b");
    const int64_t m = ta ? a[1] : a[0], k = ta ? a[0] : a[1];
    const int64_t kb = tb ? b[1] : b[0], n = tb ? b[0] : b[1];
    if (k != kb)
        c.fail("inner dimensions differ: {} x {} (contracting {} with {})", to_string(a), to_string(b), k,
               kb);
    return {Shape{m, n}};
}

void cpu(KernelCtx & k) {
    const bool ta = k.attrs().get_int("transpose_a"), tb = k.attrs().get_int("transpose_b");
    const MatrixMap a = k.in(0).matrix(), b = k.in(1).matrix();
    MatrixMap c = k.out().matrix();
    const int64_t m = c.rows(), inner = ta ? a.rows() : a.cols();
    // A weight gradient (x^T dy) sums over the batch: a short inner dimension, where each tile's GEMM costs
    // as much in packing dy as in multiplying; bigger tiles pack it fewer times. (Forward products keep
    // fused_dense's tiles, so fusing changes no bit.) Either way the tiles depend on the shapes alone.
    const int64_t tile_rows = ta && inner <= 4 * kTileRows ? 4 * kTileRows : kTileRows;
    const int64_t tiles = (m + tile_rows - 1) / tile_rows;
    const int64_t flops = m * c.cols() * inner;
    auto tile = [&](int64_t t) {
        const int64_t r0 = t * tile_rows, rows = std::min(tile_rows, m - r0);
        auto out = c.middleRows(r0, rows);
        if (!ta && !tb)
            out.noalias() = a.middleRows(r0, rows) * b;
        else if (!ta && tb)
            out.noalias() = a.middleRows(r0, rows) * b.transpose();
        else if (ta && !tb)
            out.noalias() = a.transpose().middleRows(r0, rows) * b;
        else
            out.noalias() = a.transpose().middleRows(r0, rows) * b.transpose();
    };
    if (flops < (1 << 17)) {
        for (int64_t t = 0; t < tiles; ++t) tile(t);
    } else if (m <= kFewRows && !ta && !tb) {  // batch-1 inference: split the columns instead
        const int64_t blocks = (c.cols() + kColumnBlock - 1) / kColumnBlock;
        k.pool.parallel_for(blocks, [&](int64_t j) {
            const int64_t c0 = j * kColumnBlock, cols = std::min(kColumnBlock, c.cols() - c0);
            c.middleCols(c0, cols).noalias() = a * b.middleCols(c0, cols);
        });
    } else {
        k.pool.parallel_for(tiles, tile);
    }
}

std::vector<Value> grad(GradCtx & g) {
    const bool ta = g.attrs().get_int("transpose_a"), tb = g.attrs().get_int("transpose_b");
    Value a = g.in(0), b = g.in(1), dc = g.dout();
    auto mm = [&](Value x, Value y, bool tx, bool ty) {
        return g.op("matmul", {x, y}, {{"transpose_a", int64_t{tx}}, {"transpose_b", int64_t{ty}}});
    };
    if (!ta && !tb) return {mm(dc, b, false, true), mm(a, dc, true, false)};
    if (!ta && tb) return {mm(dc, b, false, false), mm(dc, a, true, false)};
    if (ta && !tb) return {mm(b, dc, false, true), mm(a, dc, false, false)};
    return {mm(b, dc, true, true), mm(dc, a, true, true)};
}
// MatMul, with the transposes the attributes ask for as Transpose nodes.
std::string onnx(OnnxCtx & c) {
    auto side = [&c](int i, const char * key) {
        const std::string v = c.in(i);
        return c.attrs().get_int(key) ? c.add("Transpose", {v}, {{"perm", std::vector<int64_t>{1, 0}}}) : v;
    };
    const std::string a = side(0, "transpose_a"), b = side(1, "transpose_b");
    return c.add("MatMul", {a, b});
}
}  // namespace
DL_REGISTER_OP({.name = "matmul",
                .arity = 2,
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{3, 4}, {4, 5}}, {{70, 6}, {6, 2}}}},
                .onnx = onnx});
}  // namespace dl
