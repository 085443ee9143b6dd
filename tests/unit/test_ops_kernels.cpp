// Op kernels against hand-computed values (the registry tests in tests/grad check shapes and gradients; these
// check that the forward numbers are the right ones, including the edge cases that motivate each formula).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <numeric>

#include "backend/backend.h"
#include "core/rng.h"
#include "exec/executor.h"
#include "graph/op.h"
#include "op_runner.h"

namespace {
using namespace dl;
using dl::testing::run_op;

Tensor tensor(Shape shape, std::vector<float> values) {
    Tensor t(std::move(shape));
    REQUIRE(static_cast<int64_t>(values.size()) == t.numel());
    std::copy(values.begin(), values.end(), t.f32());
    return t;
}

Tensor iota(Shape shape) {
    Tensor t(std::move(shape));
    std::iota(t.f32(), t.f32() + t.numel(), 0.0f);
    return t;
}

Tensor random(Shape shape, uint64_t stream) {
    Tensor t(std::move(shape));
    const Rng rng(7, stream);
    for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = 2.0f * rng.uniform(static_cast<uint64_t>(i)) - 1.0f;
    return t;
}

float scalar(const Tensor & t) {
    REQUIRE(t.numel() == 1);
    return t.f32()[0];
}

void check_values(const Tensor & t, const Shape & shape, const std::vector<float> & want, double eps = 1e-6) {
    REQUIRE(t.shape() == shape);
    for (size_t i = 0; i < want.size(); ++i) {
        INFO("element ", i);
        CHECK(t.f32()[i] == doctest::Approx(want[i]).epsilon(eps));
    }
}

TEST_CASE("softmax: rows sum to 1 and match a worked example") {
    const Tensor y = run_op("softmax", {tensor({2, 3}, {1, 2, 3, -1, 0, 50})});
    // exp(1, 2, 3) / (e + e^2 + e^3)
    check_values(y, {2, 3}, {0.09003057f, 0.24472847f, 0.66524096f, 1.9287e-22f, 5.2429e-22f, 1.0f}, 1e-4);
    for (int r = 0; r < 2; ++r)
        CHECK(y.f32()[3 * r] + y.f32()[3 * r + 1] + y.f32()[3 * r + 2] == doctest::Approx(1.0));
}

TEST_CASE("log_softmax: stable for large inputs, equal to log(softmax) for small ones") {
    const Tensor y = run_op("log_softmax", {tensor({3, 3}, {1000, 1000, 1000, -1000, 0, 1000, 1, 2, 3})});
    const float log3 = static_cast<float>(std::log(3.0));
    check_values(y, {3, 3}, {-log3, -log3, -log3, -2000, -1000, 0, -2.40760596f, -1.40760596f, -0.40760596f});
    for (int64_t i = 0; i < y.numel(); ++i) CHECK(std::isfinite(y.f32()[i]));
}

TEST_CASE("binary_crossentropy: from logits finite for large |x|, from probabilities clipped as Keras") {
    // relu(x) - x z + log(1 + exp(-|x|)) per element: 100, 100, log 2, 20 + 2e-9
    const float logits =
        scalar(run_op("binary_crossentropy", {tensor({4}, {100, -100, 0, 20}), tensor({4}, {0, 1, 1, 0})},
                      {{"from_logits", int64_t{1}}}));
    CHECK(logits == doctest::Approx((220.0 + std::log(2.0)) / 4));
    CHECK(scalar(run_op("binary_crossentropy", {tensor({2}, {1e4f, -1e4f}), tensor({2}, {1, 0})},
                        {{"from_logits", int64_t{1}}})) == 0.0f);
    // -(log 0.9 + log 0.8) / 2
    CHECK(scalar(run_op("binary_crossentropy", {tensor({2}, {0.9f, 0.2f}), tensor({2}, {1, 0})})) ==
          doctest::Approx(0.16425204).epsilon(1e-5));
    // p = 0 and p = 1 on the wrong side: the clip to [1e-7, 1 - 1e-7] keeps the loss at about -log(1e-7)
    const float clipped = scalar(run_op("binary_crossentropy", {tensor({2}, {0, 1}), tensor({2}, {1, 0})}));
    CHECK(std::isfinite(clipped));
    CHECK(clipped == doctest::Approx(16.118).epsilon(1e-2));
}

TEST_CASE("categorical_crossentropy: logits and (unnormalised) probabilities") {
    // row 0: logsumexp(1, 2, 3) - 3;  row 1: log 3
    const float logits = scalar(run_op(
        "categorical_crossentropy", {tensor({2, 3}, {1, 2, 3, 1, 1, 1}), tensor({2, 3}, {0, 0, 1, 1, 0, 0})},
        {{"from_logits", int64_t{1}}}));
    CHECK(logits == doctest::Approx((0.40760596 + std::log(3.0)) / 2).epsilon(1e-6));
    // row 1 is normalised by its sum 4 to [0.5, 0.25, 0.25]; both rows pick probability 0.5, then 0.2
    const float probs = scalar(
        run_op("categorical_crossentropy", {tensor({3, 3}, {0.2f, 0.3f, 0.5f, 2, 1, 1, 0.1f, 0.2f, 0.7f}),
                                            tensor({3, 3}, {0, 0, 1, 1, 0, 0, 0, 1, 0})}));
    CHECK(probs == doctest::Approx((2 * std::log(2.0) + std::log(5.0)) / 3).epsilon(1e-6));
    // a zero probability on the target class is clipped, not -inf
    CHECK(std::isfinite(
        scalar(run_op("categorical_crossentropy", {tensor({1, 2}, {0, 1}), tensor({1, 2}, {1, 0})}))));
}

TEST_CASE("huber: quadratic inside delta, linear outside") {
    const Tensor p = tensor({3}, {0, 0, 0}), t = tensor({3}, {0.5f, -2, 3});
    // 0.5 * 0.25, 1 * (2 - 0.5), 1 * (3 - 0.5)
    CHECK(scalar(run_op("huber", {p, t})) == doctest::Approx((0.125 + 1.5 + 2.5) / 3));
    // delta 2: 0.5 * 0.25, 0.5 * 4, 2 * (3 - 1)
    CHECK(scalar(run_op("huber", {p, t}, {{"delta", 2.0}})) == doctest::Approx((0.125 + 2.0 + 4.0) / 3));
    CHECK(scalar(run_op("mae", {p, t})) == doctest::Approx(5.5 / 3));
}

TEST_CASE("matmul: every transpose combination against Eigen") {
    const RowMatrixXf a = Eigen::Map<RowMatrixXf>(random({7, 5}, 1).f32(), 7, 5);
    const RowMatrixXf b = Eigen::Map<RowMatrixXf>(random({5, 6}, 2).f32(), 5, 6);
    const RowMatrixXf want = (a.cast<double>() * b.cast<double>()).cast<float>();
    for (int ta = 0; ta < 2; ++ta) {
        for (int tb = 0; tb < 2; ++tb) {
            CAPTURE(ta);
            CAPTURE(tb);
            const RowMatrixXf ain = ta ? RowMatrixXf(a.transpose()) : a,
                              bin = tb ? RowMatrixXf(b.transpose()) : b;
            Tensor ta_t({ain.rows(), ain.cols()}), tb_t({bin.rows(), bin.cols()});
            std::memcpy(ta_t.f32(), ain.data(), ta_t.bytes());
            std::memcpy(tb_t.f32(), bin.data(), tb_t.bytes());
            const Tensor c =
                run_op("matmul", {ta_t, tb_t}, {{"transpose_a", int64_t{ta}}, {"transpose_b", int64_t{tb}}});
            REQUIRE(c.shape() == Shape{7, 6});
            CHECK((Eigen::Map<RowMatrixXf>(c.f32(), 7, 6) - want).cwiseAbs().maxCoeff() < 1e-5f);
        }
    }
}

TEST_CASE("matmul: bit-identical at 1 and 2 threads (Note [determinism])") {
    const Tensor a = random({200, 64}, 3), b = random({64, 48}, 4);
    const Tensor one = run_op("matmul", {a, b}, {}, {.threads = 1});
    const Tensor two = run_op("matmul", {a, b}, {}, {.threads = 2});
    CHECK(std::memcmp(one.f32(), two.f32(), one.bytes()) == 0);
}

TEST_CASE("broadcasting binary ops") {
    // [2, 1, 3] + [4, 1] -> [2, 4, 3]: y[i, j, k] = a[i, 0, k] + b[j, 0]
    const Tensor a = iota({2, 1, 3}), b = tensor({4, 1}, {0, 10, 20, 30});
    const Tensor y = run_op("add", {a, b});
    REQUIRE(y.shape() == Shape{2, 4, 3});
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 4; ++j)
            for (int k = 0; k < 3; ++k)
                CHECK(y.f32()[(i * 4 + j) * 3 + k] == static_cast<float>(3 * i + k + 10 * j));
    // A column [3, 1] has as many values as a row of [3, 3]: it must still broadcast along rows.
    check_values(run_op("add", {iota({3, 3}), tensor({3, 1}, {0, 10, 20})}), {3, 3},
                 {0, 1, 2, 13, 14, 15, 26, 27, 28});
    check_values(run_op("sub", {iota({3, 3}), tensor({3}, {0, 10, 20})}), {3, 3},
                 {0, -9, -18, 3, -6, -15, 6, -3, -12});
    check_values(run_op("div", {iota({2, 3, 3}), tensor({3, 1}, {1, 2, 4})}), {2, 3, 3},
                 {0, 1, 2, 1.5f, 2, 2.5f, 1.5f, 1.75f, 2, 9, 10, 11, 6, 6.5f, 7, 3.75f, 4, 4.25f});
    check_values(
        run_op("mul", {tensor({2, 3, 2}, {1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2}), tensor({3, 1}, {3, 5, 7})}),
        {2, 3, 2}, {3, 3, 5, 5, 7, 7, 6, 6, 10, 10, 14, 14});
}

TEST_CASE("reductions over axes, with and without keepdims") {
    const Tensor x = iota({2, 3, 4});  // x[i, j, k] = 12 i + 4 j + k
    check_values(run_op("sum", {x}, {{"axes", std::vector<int64_t>{1}}, {"keepdims", int64_t{1}}}), {2, 1, 4},
                 {12, 15, 18, 21, 48, 51, 54, 57});
    check_values(run_op("sum", {x}), {}, {276});
    check_values(run_op("mean", {x}, {{"axes", std::vector<int64_t>{0, 2}}}), {3}, {7.5f, 11.5f, 15.5f});
    check_values(run_op("mean", {x}, {{"axes", std::vector<int64_t>{0, -1}}, {"keepdims", int64_t{1}}}),
                 {1, 3, 1}, {7.5f, 11.5f, 15.5f});
    check_values(run_op("max", {x}, {{"axes", std::vector<int64_t>{-1}}, {"keepdims", int64_t{1}}}),
                 {2, 3, 1}, {3, 7, 11, 15, 19, 23});
    check_values(run_op("max", {x}, {{"axes", std::vector<int64_t>{0, 1}}}), {4}, {20, 21, 22, 23});
    check_values(run_op("max", {x}, {{"keepdims", int64_t{1}}}), {1, 1, 1}, {23});
    check_values(run_op("max", {tensor({3}, {-5, -2, -7})}), {}, {-2});
    CHECK(std::isnan(scalar(run_op("max", {tensor({3}, {1, NAN, 2})}))));
}

TEST_CASE("transpose: default reverses the axes; perm moves them") {
    check_values(run_op("transpose", {iota({2, 3})}), {3, 2}, {0, 3, 1, 4, 2, 5});
    const Tensor x = iota({2, 3, 4});
    const Tensor y =
        run_op("transpose", {x}, {{"perm", std::vector<int64_t>{1, 2, 0}}});  // y[j, k, i] = x[i, j, k]
    REQUIRE(y.shape() == Shape{3, 4, 2});
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 3; ++j)
            for (int k = 0; k < 4; ++k) CHECK(y.f32()[(j * 4 + k) * 2 + i] == x.f32()[(i * 3 + j) * 4 + k]);
    check_values(run_op("transpose", {x}), {4, 3, 2}, {0, 12, 4, 16, 8, 20, 1, 13});
}

TEST_CASE("slice, concat and pad round trip") {
    const Tensor x = iota({3, 5});
    const Tensor left =
        run_op("slice", {x}, {{"begin", std::vector<int64_t>{0, 0}}, {"size", std::vector<int64_t>{-1, 2}}});
    const Tensor right =
        run_op("slice", {x}, {{"begin", std::vector<int64_t>{0, 2}}, {"size", std::vector<int64_t>{3, -1}}});
    check_values(left, {3, 2}, {0, 1, 5, 6, 10, 11});
    check_values(right, {3, 3}, {2, 3, 4, 7, 8, 9, 12, 13, 14});
    const Tensor joined = run_op("concat", {left, right}, {{"axis", int64_t{1}}});
    REQUIRE(joined.shape() == x.shape());
    CHECK(std::memcmp(joined.f32(), x.f32(), x.bytes()) == 0);
    // default axis is the last (Keras); axis 0 stacks rows
    CHECK(run_op("concat", {left, right}).shape() == Shape{3, 5});
    check_values(
        run_op("concat", {tensor({1, 2}, {1, 2}), tensor({2, 2}, {3, 4, 5, 6})}, {{"axis", int64_t{0}}}),
        {3, 2}, {1, 2, 3, 4, 5, 6});
    const Tensor middle =
        run_op("slice", {x}, {{"begin", std::vector<int64_t>{1, 1}}, {"size", std::vector<int64_t>{1, 3}}});
    check_values(middle, {1, 3}, {6, 7, 8});
    check_values(run_op("pad", {middle},
                        {{"before", std::vector<int64_t>{1, 1}}, {"after", std::vector<int64_t>{1, 1}}}),
                 {3, 5}, {0, 0, 0, 0, 0, 0, 6, 7, 8, 0, 0, 0, 0, 0, 0});
}

TEST_CASE("elementwise activations at reference points") {
    const Tensor x = tensor({5}, {-100, -1, 0, 1, 100});
    check_values(run_op("sigmoid", {x}), {5}, {0, 0.26894142f, 0.5f, 0.73105858f, 1});
    check_values(run_op("tanh", {x}), {5}, {-1, -0.76159416f, 0, 0.76159416f, 1});
    check_values(run_op("leaky_relu", {x}), {5}, {-30, -0.3f, 0, 1, 100});
    check_values(run_op("elu", {x}), {5}, {-1, -0.63212056f, 0, 1, 100});
    // tanh approximation of gelu: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    check_values(run_op("gelu", {x}), {5}, {0, -0.15880801f, 0, 0.84119199f, 100}, 1e-5);
    check_values(run_op("abs", {x}), {5}, {100, 1, 0, 1, 100});
    check_values(run_op("clip", {x}, {{"min", -0.5}, {"max", 2.0}}), {5}, {-0.5f, -0.5f, 0, 1, 2});
    check_values(run_op("exp", {tensor({2}, {0, 1})}), {2}, {1, 2.71828183f});
    check_values(run_op("log", {tensor({2}, {1, 2.71828183f})}), {2}, {0, 1});
    check_values(run_op("sqrt", {tensor({2}, {4, 2})}), {2}, {2, 1.41421356f});
    check_values(run_op("pow", {tensor({3}, {2, 9, 4}), tensor({3}, {3, 0.5f, -1})}), {3}, {8, 3, 0.25f});
    check_values(run_op("minimum", {tensor({3}, {1, 5, -2}), tensor({}, {2})}), {3}, {1, 2, -2});
    check_values(run_op("equal", {tensor({2, 2}, {1, 2, 3, 4}), tensor({2}, {1, 4})}), {2, 2}, {1, 0, 0, 1});
}

TEST_CASE("dropout: rate 0.5 keeps about half, scales by 2, mask is a function of (seed, key, step)") {
    Tensor ones({100, 100});
    std::fill(ones.f32(), ones.f32() + ones.numel(), 1.0f);
    const Attrs attrs = {{"rate", 0.5}, {"key", int64_t{1}}};
    const Tensor a = run_op("dropout", {ones}, attrs, {.seed = 5, .step = 1});
    int64_t kept = 0;
    for (int64_t i = 0; i < a.numel(); ++i) {
        CHECK((a.f32()[i] == 0.0f || a.f32()[i] == 2.0f));
        kept += a.f32()[i] != 0.0f;
    }
    CHECK(kept == doctest::Approx(5000).epsilon(0.03));
    const Tensor same = run_op("dropout", {ones}, attrs, {.threads = 2, .seed = 5, .step = 1});
    CHECK(std::memcmp(a.f32(), same.f32(), a.bytes()) == 0);
    auto differing = [&](const Tensor & b) {
        int64_t n = 0;
        for (int64_t i = 0; i < a.numel(); ++i) n += a.f32()[i] != b.f32()[i];
        return n;
    };
    CHECK(differing(run_op("dropout", {ones}, attrs, {.seed = 5, .step = 2})) ==
          doctest::Approx(5000).epsilon(0.05));
    CHECK(differing(run_op("dropout", {ones}, attrs, {.seed = 6, .step = 1})) > 4000);
    CHECK(differing(run_op("dropout", {ones}, {{"rate", 0.5}, {"key", int64_t{2}}}, {.seed = 5, .step = 1})) >
          4000);
}

TEST_CASE("shape errors name the op and the shapes") {
    Graph g;
    const Value a = g.input("a", Shape{2, 3});
    const Value b = g.input("b", Shape{2, 4});
    CHECK_THROWS_WITH(g.op("concat", {a, b}, {{"axis", int64_t{0}}}),
                      doctest::Contains("concat: input 1 has shape [2, 4]"));
    CHECK_THROWS_WITH(g.op("transpose", {a}, {{"perm", std::vector<int64_t>{0, 0}}}),
                      doctest::Contains("is not a permutation"));
    CHECK_THROWS_WITH(
        g.op("slice", {a}, {{"begin", std::vector<int64_t>{1, 2}}, {"size", std::vector<int64_t>{2, 1}}}),
        doctest::Contains("outside the extent"));
    CHECK_THROWS_WITH(g.op("clip", {a}, {{"min", 1.0}, {"max", 0.0}}), doctest::Contains("must not exceed"));
    CHECK_THROWS_WITH(g.op("pow", {a, b}), doctest::Contains("cannot be broadcast"));
    CHECK_THROWS_WITH(g.op("categorical_crossentropy", {a, b}), doctest::Contains("same shape"));
    CHECK_THROWS_WITH(g.op("huber", {a, a}, {{"delta", 0.0}}), doctest::Contains("delta must be positive"));
    CHECK_THROWS_WITH(g.op("mae", {g.input("p", Shape{4, 1}), g.input("t", Shape{4})}),
                      doctest::Contains("differ in shape"));
    CHECK_THROWS_WITH(g.op("max", {g.input("e", Shape{2, 0})}, {{"axes", std::vector<int64_t>{1}}}),
                      doctest::Contains("empty"));
}

}  // namespace
