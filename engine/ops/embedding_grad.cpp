// dtable of embedding: y[v] = Σ over i with ids[i] = v of dy[i], added in index order; ids outside [0, vocab)
// add nothing.   ids int [...], dy [..., D] -> [vocab, D];  attr vocab Linear in dy: ddy = embedding(dout,
// ids);  ids get no gradient.
#include <cstring>

#include "ops/kernel_util.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) {
    const Shape &ids = c.in(0), &dy = c.in(1);
    if (c.in_dtype(0) == DType::f32) c.fail("expects integer ids");
    const int64_t vocab = c.attrs().get_int("vocab");
    if (vocab < 1) c.fail("needs a `vocab` of at least 1, got {}", vocab);
    Shape want = ids;
    if (dy.rank() != ids.rank() + 1) c.fail("dy {} does not match ids {}", to_string(dy), to_string(ids));
    want.dims.push_back(dy[dy.rank() - 1]);
    if (dy != want) c.fail("dy {} does not match ids {}", to_string(dy), to_string(ids));
    return {Shape{vocab, dy[dy.rank() - 1]}};
}

// Tasks own fixed blocks of table rows and each walks all ids in order: every row sums its contributions in
// index order whatever the thread count, and no two tasks write the same row.
void cpu(KernelCtx & k) {
    const TensorView & ids = k.in(0);
    const int64_t V = k.out().shape[0], D = k.out().shape[1], n = ids.numel();
    const float * dy = k.in(1).f32();
    float * y = k.out().f32();
    const int64_t per = std::max<int64_t>(1, kChunk / std::max<int64_t>(1, D)), tasks = (V + per - 1) / per;
    auto body = [&](int64_t task) {
        const int64_t v0 = task * per, v1 = std::min(V, v0 + per);
        std::memset(y + v0 * D, 0, static_cast<size_t>((v1 - v0) * D) * sizeof(float));
        for (int64_t i = 0; i < n; ++i) {
            const int64_t id = ids.index_at(i);
            if (id < v0 || id >= v1) continue;
            float * __restrict row = y + id * D;
            const float * __restrict src = dy + i * D;
            for (int64_t j = 0; j < D; ++j) row[j] += src[j];
        }
    };
    if (tasks > 1)
        k.pool.parallel_for(tasks, body);
    else
        body(0);
}

std::vector<Value> grad(GradCtx & g) { return {Value{}, g.op("embedding", {g.dout(), g.in(0)})}; }
}  // namespace
DL_REGISTER_OP({.name = "embedding_grad",
                .arity = 2,
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{5}, {5, 3}}, {{2, 3}, {2, 3, 3}}},
                         .attrs = {{"vocab", int64_t{4}}},
                         .class_inputs = {0},
                         .classes = 4}});
}  // namespace dl
