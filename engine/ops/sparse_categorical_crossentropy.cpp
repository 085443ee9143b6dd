// loss = mean_i( logsumexp(z_i) - z_i[label_i] ), fused with log-softmax for stability.
//   logits [n, classes], labels int [n] -> scalar
// dz = (softmax(z) - one_hot(label)) * dloss / n;   labels get no gradient.
#include "ops/kernel_util.h"

namespace dl {
namespace {
OutInfo infer(ShapeCtx & c) {
    const Shape &z = c.in(0), &y = c.in(1);
    if (z.rank() != 2) c.fail("expects logits [batch, classes], got {}", to_string(z));
    if (c.in_dtype(1) == DType::f32) c.fail("expects integer class labels");
    if (y.rank() != 1 || y[0] != z[0])
        c.fail("labels {} do not match logits {}: one class index per row", to_string(y), to_string(z));
    return {Shape{}};
}
void cpu(KernelCtx & k) {
    const MatrixMap z = k.in(0).matrix();
    double total = 0;
    for (int64_t r = 0; r < z.rows(); ++r) {
        const float m = z.row(r).maxCoeff();
        const double lse = m + std::log(static_cast<double>((z.row(r).array() - m).exp().sum()));
        const int64_t c = k.in(1).index_at(r);
        DL_CHECK(c >= 0 && c < z.cols(), ExitCode::bad_input, "class label {} is out of range [0, {})", c,
                 z.cols());
        total += lse - z(r, c);
    }
    k.out().f32()[0] = static_cast<float>(total / static_cast<double>(std::max<int64_t>(1, z.rows())));
}
std::vector<Value> grad(GradCtx & g) {
    Value z = g.in(0);
    const Shape & zs = z.shape();
    Value p = g.op("softmax", {z});
    Value onehot = g.op("one_hot", {g.in(1)}, {{"depth", zs[1]}});
    return {(p - onehot) * (g.dout() * (1.0f / static_cast<float>(zs[0]))), Value{}};
}
}  // namespace
DL_REGISTER_OP({.name = "sparse_categorical_crossentropy",
                .arity = 2,
                .infer = infer,
                .cpu = cpu,
                .grad = grad,
                .test = {.cases = {{{5, 3}, {5}}, {{200, 3}, {200}}},
                         .low = -2.0f,
                         .high = 2.0f,
                         .class_inputs = {1},
                         .classes = 3}});
}  // namespace dl
