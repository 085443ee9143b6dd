// Normalisation and embedding ops against naive double-precision references (the registry tests in tests/grad
// check shapes and first gradients; the backward-only ops batch_norm_train_grad, batch_norm_train_grad_gamma
// and layer_norm_grad are checked here), plus determinism: 1 vs 2 threads, and a kernel run without its
// workspace.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "backend/backend.h"
#include "core/rng.h"
#include "exec/executor.h"
#include "graph/op.h"
#include "op_runner.h"

namespace {
using namespace dl;
using dl::testing::run_op;

Tensor random(Shape shape, uint64_t stream, float low = -1.0f, float high = 1.0f) {
    Tensor t(std::move(shape));
    const Rng rng(11, stream);
    for (int64_t i = 0; i < t.numel(); ++i)
        t.f32()[i] = low + (high - low) * rng.uniform(static_cast<uint64_t>(i));
    return t;
}

Tensor ids(Shape shape, std::vector<int32_t> values) {
    Tensor t(std::move(shape), DType::i32);
    REQUIRE(static_cast<int64_t>(values.size()) == t.numel());
    std::copy(values.begin(), values.end(), t.view().i32());
    return t;
}

// The kernel alone, without the workspace the executor gives it (as constant folding runs kernels).
Tensor run_kernel_alone(const std::string & op, const std::vector<Tensor> & inputs, const Attrs & attrs,
                        int threads) {
    Graph g;
    std::vector<Value> in;
    for (size_t i = 0; i < inputs.size(); ++i)
        in.push_back(g.input("in" + std::to_string(i), inputs[i].shape(), inputs[i].dtype()));
    const Node & n = g.op(op, in, attrs).node();
    Tensor out(n.shape, n.dtype);
    ThreadPool pool(threads);
    KernelCtx k{.node = n, .output = out.view(), .pool = pool};
    for (const Tensor & t : inputs) k.inputs.push_back(t.view());
    n.def->cpu(k);
    return out;
}

bool same_bits(const Tensor & a, const Tensor & b) {
    return a.shape() == b.shape() && std::memcmp(a.view().data, b.view().data, a.bytes()) == 0;
}

void check_close(const Tensor & got, const Shape & shape, const std::vector<double> & want, double tol) {
    REQUIRE(got.shape() == shape);
    REQUIRE(static_cast<int64_t>(want.size()) == got.numel());
    double worst = 0;
    int64_t worst_at = 0;
    for (int64_t i = 0; i < got.numel(); ++i) {
        const double err = std::fabs(got.f32()[i] - want[static_cast<size_t>(i)]) /
                           std::max(1.0, std::fabs(want[static_cast<size_t>(i)]));
        if (err > worst) {
            worst = err;
            worst_at = i;
        }
    }
    INFO("worst at element ", worst_at, ": got ", got.f32()[worst_at], ", want ",
         want[static_cast<size_t>(worst_at)]);
    CHECK(worst <= tol);
}

// Mean and biased variance per channel (last axis) of x, two-pass in double.
struct ChannelRef {
    std::vector<double> mean, var;
};
ChannelRef channel_ref(const Tensor & x) {
    const int64_t C = x.shape()[x.shape().rank() - 1], rows = x.numel() / C;
    ChannelRef r{std::vector<double>(static_cast<size_t>(C)), std::vector<double>(static_cast<size_t>(C))};
    for (int64_t c = 0; c < C; ++c) {
        double s = 0, q = 0;
        for (int64_t i = 0; i < rows; ++i) s += x.f32()[i * C + c];
        const double m = s / static_cast<double>(rows);
        for (int64_t i = 0; i < rows; ++i) q += (x.f32()[i * C + c] - m) * (x.f32()[i * C + c] - m);
        r.mean[static_cast<size_t>(c)] = m;
        r.var[static_cast<size_t>(c)] = q / static_cast<double>(rows);
    }
    return r;
}

const Attrs kEps{{"epsilon", 1e-3}};

TEST_CASE("batch_norm_train: a 4-D [N, H, W, C] input against a double reference") {
    // Channels with means far from 0 and different spreads, so a wrong axis or a lost shift shows.
    Tensor x = random({3, 4, 5, 6}, 1);
    for (int64_t i = 0; i < x.numel(); ++i)
        x.f32()[i] = x.f32()[i] * static_cast<float>(1 + i % 6) + 10.0f * (i % 6);
    const Tensor gamma = random({6}, 2, 0.5f, 2.0f), beta = random({6}, 3);
    const ChannelRef ref = channel_ref(x);
    std::vector<double> want(static_cast<size_t>(x.numel()));
    for (int64_t i = 0; i < x.numel(); ++i) {
        const size_t c = static_cast<size_t>(i % 6);
        want[static_cast<size_t>(i)] =
            (x.f32()[i] - ref.mean[c]) / std::sqrt(ref.var[c] + 1e-3) * gamma.f32()[c] + beta.f32()[c];
    }
    check_close(run_op("batch_norm_train", {x, gamma, beta}, kEps), x.shape(), want, 2e-6);
    // Without the attribute epsilon is Keras' 1e-3, not 0: a constant channel (variance 0) maps to beta, not
    // NaN.
    Tensor flat({4, 1});
    std::fill(flat.f32(), flat.f32() + 4, 5.0f);
    const Tensor y = run_op("batch_norm_train", {flat, random({1}, 4), random({1}, 5)});
    for (int i = 0; i < 4; ++i) CHECK(y.f32()[i] == random({1}, 5).f32()[0]);
}

TEST_CASE("batch_norm: inference with given statistics") {
    const Tensor x = random({2, 3, 5}, 6, -3.0f, 3.0f), gamma = random({5}, 7), beta = random({5}, 8),
                 mean = random({5}, 9), var = random({5}, 10, 0.01f, 4.0f);
    std::vector<double> want(static_cast<size_t>(x.numel()));
    for (int64_t i = 0; i < x.numel(); ++i) {
        const int64_t c = i % 5;
        want[static_cast<size_t>(i)] = (x.f32()[i] - mean.f32()[c]) * gamma.f32()[c] /
                                           std::sqrt(static_cast<double>(var.f32()[c]) + 0.01) +
                                       beta.f32()[c];
    }
    check_close(run_op("batch_norm", {x, gamma, beta, mean, var}, {{"epsilon", 0.01}}), x.shape(), want,
                2e-6);
}

TEST_CASE("moments: per-channel mean and biased variance, as numpy's x.mean(axis) and x.var(axis)") {
    // A mean of 1000 against a spread of 1: E[x^2] - E[x]^2 without a shift would lose digits here.
    Tensor x = random({4, 3, 2, 5}, 11);
    for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] += 1000.0f - 200.0f * (i % 5);
    const ChannelRef ref = channel_ref(x);
    std::vector<double> want(ref.mean);
    want.insert(want.end(), ref.var.begin(), ref.var.end());
    const Tensor m = run_op("moments", {x});
    check_close(m, {2, 5}, want, 1e-6);
    for (int c = 0; c < 5; ++c)
        CHECK(m.f32()[5 + c] == doctest::Approx(ref.var[static_cast<size_t>(c)]).epsilon(1e-5));
    // A hand-computed case: channel 0 is [1, 2, 3, 6], channel 1 constant.
    Tensor small({4, 2});
    const float v[] = {1, 7, 2, 7, 3, 7, 6, 7};
    std::copy(std::begin(v), std::end(v), small.f32());
    const Tensor s = run_op("moments", {small});
    CHECK(std::vector<float>(s.f32(), s.f32() + 4) == std::vector<float>{3, 7, 3.5f, 0});
}

TEST_CASE("moments and batch_norm_train normalise with the same statistics") {
    const Tensor x = random({300, 7}, 12, 2.0f, 5.0f), ones = [] {
        Tensor t({7});
        std::fill(t.f32(), t.f32() + 7, 1.0f);
        return t;
    }();
    const Tensor m = run_op("moments", {x}), y = run_op("batch_norm_train", {x, ones, Tensor({7})}, kEps);
    for (int64_t i = 0; i < x.numel(); ++i) {
        const int64_t c = i % 7;
        const double want = (x.f32()[i] - m.f32()[c]) / std::sqrt(static_cast<double>(m.f32()[7 + c]) + 1e-3);
        CHECK(y.f32()[i] == doctest::Approx(want).epsilon(1e-6));
    }
}

TEST_CASE(
    "batch_norm_train_grad and batch_norm_train_grad_gamma: the standard backward against a reference") {
    const Tensor x = random({2, 3, 3, 4}, 13, -2.0f, 3.0f), gamma = random({4}, 14, 0.5f, 2.0f),
                 dy = random({2, 3, 3, 4}, 15);
    const int64_t C = 4, n = x.numel() / C;
    const ChannelRef ref = channel_ref(x);
    std::vector<double> sum_dy(C), sum_dy_xhat(C), dx(static_cast<size_t>(x.numel()));
    auto xhat = [&](int64_t i) {
        const size_t c = static_cast<size_t>(i % C);
        return (x.f32()[i] - ref.mean[c]) / std::sqrt(ref.var[c] + 1e-3);
    };
    for (int64_t i = 0; i < x.numel(); ++i) {
        sum_dy[static_cast<size_t>(i % C)] += dy.f32()[i];
        sum_dy_xhat[static_cast<size_t>(i % C)] += dy.f32()[i] * xhat(i);
    }
    for (int64_t i = 0; i < x.numel(); ++i) {
        const size_t c = static_cast<size_t>(i % C);
        dx[static_cast<size_t>(i)] =
            gamma.f32()[c] / std::sqrt(ref.var[c] + 1e-3) / static_cast<double>(n) *
            (static_cast<double>(n) * dy.f32()[i] - sum_dy[c] - xhat(i) * sum_dy_xhat[c]);
    }
    check_close(run_op("batch_norm_train_grad", {x, gamma, dy}, kEps), x.shape(), dx, 2e-6);
    check_close(run_op("batch_norm_train_grad_gamma", {x, dy}, kEps), {4}, sum_dy_xhat, 2e-6);
}

TEST_CASE("layer_norm and layer_norm_grad: each row over the last axis against a reference") {
    Tensor x = random({3, 2, 7}, 16, -2.0f, 2.0f);
    for (int64_t i = 0; i < x.numel(); ++i)
        x.f32()[i] += static_cast<float>(i / 7);  // rows with different means
    const Tensor gamma = random({7}, 17, 0.5f, 2.0f), beta = random({7}, 18), dy = random({3, 2, 7}, 19);
    const int64_t D = 7;
    std::vector<double> y(static_cast<size_t>(x.numel())), dx(y.size());
    for (int64_t r = 0; r < x.numel() / D; ++r) {
        const float * xr = x.f32() + r * D;
        double m = 0, v = 0, sg = 0, sgx = 0;
        for (int64_t j = 0; j < D; ++j) m += xr[j] / static_cast<double>(D);
        for (int64_t j = 0; j < D; ++j) v += (xr[j] - m) * (xr[j] - m) / static_cast<double>(D);
        const double rstd = 1 / std::sqrt(v + 1e-3);
        for (int64_t j = 0; j < D; ++j) {
            const double xh = (xr[j] - m) * rstd, g = gamma.f32()[j] * dy.f32()[r * D + j];
            y[static_cast<size_t>(r * D + j)] = xh * gamma.f32()[j] + beta.f32()[j];
            sg += g;
            sgx += g * xh;
        }
        for (int64_t j = 0; j < D; ++j) {
            const double xh = (xr[j] - m) * rstd, g = gamma.f32()[j] * dy.f32()[r * D + j];
            dx[static_cast<size_t>(r * D + j)] = rstd * (g - sg / D - xh * sgx / D);
        }
    }
    check_close(run_op("layer_norm", {x, gamma, beta}, kEps), x.shape(), y, 2e-6);
    check_close(run_op("layer_norm_grad", {x, gamma, dy}, kEps), x.shape(), dx, 2e-6);
}

TEST_CASE("embedding: gathers rows; ids outside the table give zero rows") {
    const Tensor table = random({4, 3}, 20);
    const Tensor y = run_op("embedding", {table, ids({2, 3}, {2, 0, 2, -1, 4, 3})});
    REQUIRE(y.shape() == Shape{2, 3, 3});
    const int want_row[] = {2, 0, 2, -1, -1, 3};
    for (int i = 0; i < 6; ++i)
        for (int j = 0; j < 3; ++j) {
            INFO("id ", i, " feature ", j);
            CHECK(y.f32()[i * 3 + j] == (want_row[i] < 0 ? 0.0f : table.f32()[want_row[i] * 3 + j]));
        }
}

TEST_CASE("embedding_grad: repeated ids accumulate, out-of-range ids add nothing") {
    const Tensor dy = random({6, 2}, 21);
    const Tensor d = run_op("embedding_grad", {ids({6}, {1, 3, 1, 7, 1, -2}), dy}, {{"vocab", int64_t{4}}});
    REQUIRE(d.shape() == Shape{4, 2});
    for (int j = 0; j < 2; ++j) {
        CHECK(d.f32()[0 * 2 + j] == 0.0f);
        CHECK(d.f32()[1 * 2 + j] ==
              doctest::Approx(double(dy.f32()[0 + j]) + dy.f32()[4 + j] + dy.f32()[8 + j]));
        CHECK(d.f32()[2 * 2 + j] == 0.0f);
        CHECK(d.f32()[3 * 2 + j] == dy.f32()[2 + j]);
    }
}

// Per Note [determinism], tensors big enough to run in parallel give the same bits at 1 and 2 threads, and
// the kernels' fallback without a workspace (used by constant folding) gives the same bits as the workspace
// path. C = 70 splits into channel groups of 64 + 6 there, and 600 rows into two blocks.
TEST_CASE("normalisation and embedding ops: bit-identical at 1 and 2 threads and without a workspace") {
    struct Case {
        std::string op;
        std::vector<Tensor> inputs;
        Attrs attrs;
    };
    const Shape big{64, 14, 14, 64};
    const Tensor x = random(big, 22, -1.0f, 3.0f), dy = random(big, 23), g64 = random({64}, 24),
                 b64 = random({64}, 25), v64 = random({64}, 26, 0.1f, 2.0f);
    const Tensor x70 = random({600, 70}, 27, -1.0f, 3.0f), dy70 = random({600, 70}, 28),
                 g70 = random({70}, 29), b70 = random({70}, 30);
    std::vector<int32_t> many(20000);
    for (size_t i = 0; i < many.size(); ++i) many[i] = static_cast<int32_t>((i * 7919) % 2100) - 50;
    const Tensor id = ids({20000}, many), table = random({2000, 32}, 31), dy_emb = random({20000, 32}, 32);
    const Tensor rows = random({256, 300}, 33), dy_rows = random({256, 300}, 34), g300 = random({300}, 35);
    const std::vector<Case> cases = {
        {"batch_norm_train", {x, g64, b64}, kEps},
        {"batch_norm_train_grad", {x, g64, dy}, kEps},
        {"batch_norm_train_grad_gamma", {x, dy}, kEps},
        {"moments", {x}, {}},
        {"batch_norm", {x, g64, b64, b64, v64}, kEps},
        {"batch_norm_train", {x70, g70, b70}, kEps},
        {"batch_norm_train_grad", {x70, g70, dy70}, kEps},
        {"batch_norm_train_grad_gamma", {x70, dy70}, kEps},
        {"moments", {x70}, {}},
        {"layer_norm", {rows, g300, g300}, kEps},
        {"layer_norm_grad", {rows, g300, dy_rows}, kEps},
        {"embedding", {table, id}, {}},
        {"embedding_grad", {id, dy_emb}, {{"vocab", int64_t{2000}}}},
    };
    for (const Case & c : cases) {
        INFO(c.op, " on ", to_string(c.inputs[0].shape()));
        const Tensor one = run_op(c.op, c.inputs, c.attrs, {.threads = 1});
        const Tensor two = run_op(c.op, c.inputs, c.attrs, {.threads = 2});
        CHECK(same_bits(one, two));
        CHECK(same_bits(one, run_kernel_alone(c.op, c.inputs, c.attrs, 2)));
        int64_t nonzero = 0;
        for (int64_t i = 0; i < one.numel(); ++i) nonzero += one.f32()[i] != 0.0f;
        CHECK(nonzero > one.numel() / 2);
    }
}

TEST_CASE("shape errors name the op and the mismatched inputs") {
    Graph g;
    const Value x = g.input("x", Shape{4, 3}), v2 = g.input("v", Shape{2}), v3 = g.input("w", Shape{3});
    CHECK_THROWS_WITH(g.op("batch_norm_train", {x, v2, v3}), doctest::Contains("gamma [2]"));
    CHECK_THROWS_WITH(g.op("layer_norm", {x, v3, v2}), doctest::Contains("beta [2]"));
    CHECK_THROWS_WITH(g.op("batch_norm", {x, v3, v3, v3, v2}), doctest::Contains("variance [2]"));
    CHECK_THROWS_WITH(g.op("embedding", {x, x}), doctest::Contains("integer ids"));
}

}  // namespace
