// Pooling ops (max_pool2d, avg_pool2d, their gradient ops, global_avg_pool2d) against naive double-precision
// loops written here from the Keras/TensorFlow definitions; the registry test in tests/grad checks their
// gradients by finite differences. Also: worked examples of "same" padding, errors, and bit-identical results
// at 1 and 2 threads.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "backend/backend.h"
#include "core/rng.h"
#include "exec/executor.h"
#include "graph/op.h"
#include "op_runner.h"

namespace {
using namespace dl;
using dl::testing::run_op;

Tensor random(Shape shape, uint64_t stream) {
    Tensor t(std::move(shape));
    const Rng rng(11, stream);
    for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = 2.0f * rng.uniform(static_cast<uint64_t>(i)) - 1.0f;
    return t;
}

// Values on a grid of 1/4 in [-1, 1]: windows then hold ties, which the first-maximum rule must settle.
Tensor coarse(Shape shape, uint64_t stream) {
    Tensor t = random(std::move(shape), stream);
    for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = std::round(t.f32()[i] * 4.0f) / 4.0f;
    return t;
}

Tensor iota(Shape shape) {
    Tensor t(std::move(shape));
    std::iota(t.f32(), t.f32() + t.numel(), 0.0f);
    return t;
}

struct Config {
    Shape x;
    int64_t ph, pw, sh, sw;
    bool same;

    Attrs attrs() const {
        return {{"pool", std::vector<int64_t>{ph, pw}},
                {"strides", std::vector<int64_t>{sh, sw}},
                {"padding", std::string(same ? "same" : "valid")}};
    }
    std::string describe() const {
        return fmt::format("x {} pool {}x{} strides {}x{} {}", to_string(x), ph, pw, sh, sw,
                           same ? "same" : "valid");
    }
};

// The reference: TensorFlow's rule written out per axis, independently of the ops' code.
struct Windows {
    int64_t n, h, w, c, oh, ow;
    int64_t top, left;
    const Config & cfg;

    explicit Windows(const Config & k)
        : n(k.x[0]), h(k.x[1]), w(k.x[2]), c(k.x[3]), oh(0), ow(0), top(0), left(0), cfg(k) {
        if (k.same) {
            oh = static_cast<int64_t>(std::ceil(static_cast<double>(h) / static_cast<double>(k.sh)));
            ow = static_cast<int64_t>(std::ceil(static_cast<double>(w) / static_cast<double>(k.sw)));
            top = std::max<int64_t>((oh - 1) * k.sh + k.ph - h, 0) / 2;
            left = std::max<int64_t>((ow - 1) * k.sw + k.pw - w, 0) / 2;
        } else {
            oh = static_cast<int64_t>(std::floor(static_cast<double>(h - k.ph) / static_cast<double>(k.sh))) +
                 1;
            ow = static_cast<int64_t>(std::floor(static_cast<double>(w - k.pw) / static_cast<double>(k.sw))) +
                 1;
        }
    }
    Shape out() const { return Shape{n, oh, ow, c}; }
    int64_t xi(int64_t b, int64_t r, int64_t q, int64_t ch) const { return ((b * h + r) * w + q) * c + ch; }
    int64_t yi(int64_t b, int64_t i, int64_t j, int64_t ch) const { return ((b * oh + i) * ow + j) * c + ch; }
    // Calls f(x index) for each real position of window (i, j) of image b, channel ch, in row-major order.
    template <typename F>
    void each(int64_t b, int64_t i, int64_t j, int64_t ch, F && f) const {
        for (int64_t a = 0; a < cfg.ph; ++a)
            for (int64_t d = 0; d < cfg.pw; ++d) {
                const int64_t r = i * cfg.sh - top + a, q = j * cfg.sw - left + d;
                if (r >= 0 && r < h && q >= 0 && q < w) f(xi(b, r, q, ch));
            }
    }
    template <typename F>
    void each_output(F && f) const {  // f(b, i, j, ch, y index)
        for (int64_t b = 0; b < n; ++b)
            for (int64_t i = 0; i < oh; ++i)
                for (int64_t j = 0; j < ow; ++j)
                    for (int64_t ch = 0; ch < c; ++ch) f(b, i, j, ch, yi(b, i, j, ch));
    }
};

std::vector<double> ref_max(const Windows & wn, const Tensor & x) {
    std::vector<double> y(static_cast<size_t>(wn.out().numel()));
    wn.each_output([&](int64_t b, int64_t i, int64_t j, int64_t ch, int64_t o) {
        double m = -std::numeric_limits<double>::infinity();
        wn.each(b, i, j, ch, [&](int64_t e) { m = std::max(m, static_cast<double>(x.f32()[e])); });
        y[static_cast<size_t>(o)] = m;
    });
    return y;
}

std::vector<double> ref_avg(const Windows & wn, const Tensor & x) {
    std::vector<double> y(static_cast<size_t>(wn.out().numel()));
    wn.each_output([&](int64_t b, int64_t i, int64_t j, int64_t ch, int64_t o) {
        double s = 0;
        int count = 0;
        wn.each(b, i, j, ch, [&](int64_t e) {
            s += x.f32()[e];
            ++count;
        });
        y[static_cast<size_t>(o)] = s / count;
    });
    return y;
}

// Index of the first maximum (row-major) of each output's window.
std::vector<int64_t> ref_argmax(const Windows & wn, const Tensor & x) {
    std::vector<int64_t> at(static_cast<size_t>(wn.out().numel()), -1);
    wn.each_output([&](int64_t b, int64_t i, int64_t j, int64_t ch, int64_t o) {
        int64_t best = -1;
        wn.each(b, i, j, ch, [&](int64_t e) {
            if (best < 0 || x.f32()[e] > x.f32()[best]) best = e;
        });
        at[static_cast<size_t>(o)] = best;
    });
    return at;
}

std::vector<double> ref_max_grad(const Windows & wn, const Tensor & x, const Tensor & dy) {
    std::vector<double> dx(static_cast<size_t>(x.numel()), 0.0);
    const std::vector<int64_t> at = ref_argmax(wn, x);
    for (size_t o = 0; o < at.size(); ++o) dx[static_cast<size_t>(at[o])] += dy.f32()[o];
    return dx;
}

std::vector<double> ref_avg_grad(const Windows & wn, const Tensor & dy) {
    std::vector<double> dx(static_cast<size_t>(wn.cfg.x.numel()), 0.0);
    wn.each_output([&](int64_t b, int64_t i, int64_t j, int64_t ch, int64_t o) {
        int count = 0;
        wn.each(b, i, j, ch, [&](int64_t) { ++count; });
        wn.each(b, i, j, ch, [&](int64_t e) { dx[static_cast<size_t>(e)] += dy.f32()[o] / count; });
    });
    return dx;
}

void check_close(const Tensor & got, const Shape & shape, const std::vector<double> & want, double tol) {
    REQUIRE(got.shape() == shape);
    REQUIRE(static_cast<size_t>(got.numel()) == want.size());
    int64_t bad = 0;
    for (size_t i = 0; i < want.size(); ++i) {
        const double g = got.f32()[i];
        if (!(std::fabs(g - want[i]) <= tol * std::max(1.0, std::fabs(want[i])))) {
            if (bad++ < 5) MESSAGE("element ", i, ": got ", g, ", want ", want[i]);
        }
    }
    CHECK(bad == 0);
}

bool bit_identical(const Tensor & a, const Tensor & b) {
    return a.shape() == b.shape() && std::memcmp(a.view().data, b.view().data, a.bytes()) == 0;
}

// "same" with odd sizes (padding at the bottom/right only, or on both sides), stride != pool, overlapping
// windows, non-square windows, a window larger than the image, "valid" dropping rows, and more channels than
// a block of 128.
const std::vector<Config> kConfigs = {
    {{2, 6, 6, 3}, 2, 2, 2, 2, false},   {{2, 7, 5, 3}, 2, 2, 2, 2, true},
    {{1, 7, 6, 2}, 3, 3, 1, 1, true},    {{3, 5, 7, 4}, 2, 3, 3, 2, true},
    {{2, 11, 11, 5}, 2, 2, 2, 2, false}, {{1, 4, 3, 2}, 5, 5, 1, 1, true},
    {{2, 9, 8, 3}, 3, 2, 2, 3, false},   {{1, 8, 9, 1}, 4, 3, 3, 2, true},
    {{1, 5, 6, 130}, 3, 3, 2, 2, true},  {{2, 6, 5, 3}, 3, 3, 1, 1, false},
};

TEST_CASE("max_pool2d matches a naive loop") {
    for (size_t k = 0; k < kConfigs.size(); ++k) {
        const Config & cfg = kConfigs[k];
        INFO(cfg.describe());
        const Windows wn(cfg);
        const Tensor x = random(cfg.x, k);
        check_close(run_op("max_pool2d", {x}, cfg.attrs()), wn.out(), ref_max(wn, x), 0.0);  // a max is exact
    }
}

TEST_CASE("avg_pool2d matches a naive loop, dividing by the real elements of each window") {
    for (size_t k = 0; k < kConfigs.size(); ++k) {
        const Config & cfg = kConfigs[k];
        INFO(cfg.describe());
        const Windows wn(cfg);
        const Tensor x = random(cfg.x, k);
        check_close(run_op("avg_pool2d", {x}, cfg.attrs()), wn.out(), ref_avg(wn, x), 1e-5);
    }
}

TEST_CASE("max_pool2d_grad routes dy to the first maximum of each window, summing overlaps") {
    for (size_t k = 0; k < kConfigs.size(); ++k) {
        const Config & cfg = kConfigs[k];
        INFO(cfg.describe());
        const Windows wn(cfg);
        const Tensor x = coarse(cfg.x, k), dy = random(wn.out(), 100 + k);
        check_close(run_op("max_pool2d_grad", {x, dy}, cfg.attrs()), cfg.x, ref_max_grad(wn, x, dy), 1e-5);
    }
}

TEST_CASE("max_pool2d_grad_grad reads g at the first maximum of each window") {
    for (size_t k = 0; k < kConfigs.size(); ++k) {
        const Config & cfg = kConfigs[k];
        INFO(cfg.describe());
        const Windows wn(cfg);
        const Tensor x = coarse(cfg.x, k), g = random(cfg.x, 200 + k);
        const std::vector<int64_t> at = ref_argmax(wn, x);
        std::vector<double> want(at.size());
        for (size_t o = 0; o < at.size(); ++o) want[o] = g.f32()[at[o]];
        check_close(run_op("max_pool2d_grad_grad", {x, g}, cfg.attrs()), wn.out(), want, 0.0);
    }
}

TEST_CASE("avg_pool2d_grad spreads dy over the real elements of each window") {
    for (size_t k = 0; k < kConfigs.size(); ++k) {
        const Config & cfg = kConfigs[k];
        INFO(cfg.describe());
        const Windows wn(cfg);
        const Tensor dy = random(wn.out(), 300 + k);
        Attrs attrs = cfg.attrs();
        attrs.set("input_shape", cfg.x.dims);
        check_close(run_op("avg_pool2d_grad", {dy}, attrs), cfg.x, ref_avg_grad(wn, dy), 1e-5);
    }
}

TEST_CASE("global_avg_pool2d averages each channel over the image") {
    for (const Shape & s : {Shape{2, 3, 4, 5}, Shape{1, 1, 1, 3}, Shape{3, 7, 5, 300}}) {
        INFO(to_string(s));
        const Tensor x = random(s, 7);
        std::vector<double> want(static_cast<size_t>(s[0] * s[3]), 0.0);
        for (int64_t b = 0; b < s[0]; ++b)
            for (int64_t i = 0; i < s[1] * s[2]; ++i)
                for (int64_t ch = 0; ch < s[3]; ++ch)
                    want[static_cast<size_t>(b * s[3] + ch)] += x.f32()[(b * s[1] * s[2] + i) * s[3] + ch];
        for (double & v : want) v /= static_cast<double>(s[1] * s[2]);
        check_close(run_op("global_avg_pool2d", {x}, {}), Shape{s[0], s[3]}, want, 1e-5);
    }
}

TEST_CASE(
    "pooling a 3x3 image with 2x2 windows, stride 2, padding same: TensorFlow pads the bottom and right") {
    const Tensor x = iota({1, 3, 3, 1});  // 0 1 2 / 3 4 5 / 6 7 8
    const Attrs attrs = Config{{1, 3, 3, 1}, 2, 2, 2, 2, true}.attrs();
    const Tensor mx = run_op("max_pool2d", {x}, attrs), av = run_op("avg_pool2d", {x}, attrs);
    REQUIRE(mx.shape() == Shape{1, 2, 2, 1});
    CHECK(std::vector<float>(mx.f32(), mx.f32() + 4) == std::vector<float>{4, 5, 7, 8});
    // Windows {0,1,3,4}, {2,5}, {6,7}, {8}: the padding is not counted.
    CHECK(std::vector<float>(av.f32(), av.f32() + 4) == std::vector<float>{2, 3.5f, 6.5f, 8});
}

TEST_CASE("valid pooling drops the last row and column when they do not fill a window") {
    const Tensor x = random({2, 11, 11, 3}, 5);
    const Tensor valid = run_op("max_pool2d", {x}, Config{{2, 11, 11, 3}, 2, 2, 2, 2, false}.attrs());
    const Tensor same = run_op("max_pool2d", {x}, Config{{2, 11, 11, 3}, 2, 2, 2, 2, true}.attrs());
    CHECK(valid.shape() == Shape{2, 5, 5, 3});
    CHECK(same.shape() == Shape{2, 6, 6, 3});
}

TEST_CASE("max_pool2d propagates a NaN in a window") {
    Tensor x = iota({1, 2, 4, 1});
    x.f32()[6] = std::numeric_limits<float>::quiet_NaN();  // second window, not its first element
    const Tensor y = run_op("max_pool2d", {x}, Config{{1, 2, 4, 1}, 2, 2, 2, 2, false}.attrs());
    REQUIRE(y.numel() == 2);
    CHECK(y.f32()[0] == 5.0f);
    CHECK(std::isnan(y.f32()[1]));
}

TEST_CASE("max_pool2d_grad sends a tie's gradient to its first element only") {
    Tensor x(Shape{1, 2, 2, 1});
    std::fill(x.f32(), x.f32() + 4, 1.0f);
    Tensor dy(Shape{1, 1, 1, 1});
    dy.f32()[0] = 3.0f;
    const Tensor dx = run_op("max_pool2d_grad", {x, dy}, Config{{1, 2, 2, 1}, 2, 2, 2, 2, false}.attrs());
    CHECK(std::vector<float>(dx.f32(), dx.f32() + 4) == std::vector<float>{3, 0, 0, 0});
}

TEST_CASE("pooling ops give bit-identical results at 1 and 2 threads") {
    // Large enough to run in parallel; overlapping windows make the gradient ops sum into shared elements.
    const Config cfg{{8, 26, 26, 32}, 3, 3, 2, 2, true};
    const Windows wn(cfg);
    const Tensor x = random(cfg.x, 40), dy = random(wn.out(), 41), g = random(cfg.x, 42);
    Attrs grad_attrs = cfg.attrs();
    grad_attrs.set("input_shape", cfg.x.dims);
    struct Case {
        const char * op;
        std::vector<Tensor> inputs;
        Attrs attrs;
    };
    const std::vector<Case> cases = {
        {"max_pool2d", {x}, cfg.attrs()},          {"avg_pool2d", {x}, cfg.attrs()},
        {"max_pool2d_grad", {x, dy}, cfg.attrs()}, {"max_pool2d_grad_grad", {x, g}, cfg.attrs()},
        {"avg_pool2d_grad", {dy}, grad_attrs},     {"global_avg_pool2d", {x}, {}},
    };
    for (const Case & c : cases) {
        INFO(c.op);
        const Tensor one = run_op(c.op, c.inputs, c.attrs, {.threads = 1});
        const Tensor two = run_op(c.op, c.inputs, c.attrs, {.threads = 2});
        CHECK(bit_identical(one, two));
    }
    // And the parallel path computes the right thing.
    check_close(run_op("max_pool2d_grad", {x, dy}, cfg.attrs(), {.threads = 2}), cfg.x,
                ref_max_grad(wn, x, dy), 1e-5);
    check_close(run_op("avg_pool2d_grad", {dy}, grad_attrs, {.threads = 2}), cfg.x, ref_avg_grad(wn, dy),
                1e-5);
}

TEST_CASE("pooling ops reject bad inputs and attributes with clear messages") {
    Graph g;
    const Value x = g.input("x", Shape{2, 5, 5, 3});
    const Value flat = g.input("flat", Shape{5, 5, 3});
    const Attrs ok = Config{{2, 5, 5, 3}, 2, 2, 2, 2, false}.attrs();
    auto with = [&](const std::string & key, AttrValue v) {
        Attrs a = ok;
        a.set(key, std::move(v));
        return a;
    };
    CHECK_THROWS_WITH(g.op("max_pool2d", {flat}, ok), doctest::Contains("[N, H, W, C]"));
    CHECK_THROWS_WITH(g.op("avg_pool2d", {flat}, ok), doctest::Contains("avg_pool2d: needs an [N, H, W, C]"));
    CHECK_THROWS_WITH(g.op("max_pool2d", {x}, {}), doctest::Contains("`pool`"));
    CHECK_THROWS_WITH(g.op("max_pool2d", {x}, with("pool", std::vector<int64_t>{2})),
                      doctest::Contains("`pool`"));
    CHECK_THROWS_WITH(g.op("max_pool2d", {x}, with("strides", std::vector<int64_t>{0, 1})),
                      doctest::Contains("`strides`"));
    CHECK_THROWS_WITH(g.op("max_pool2d", {x}, with("padding", std::string("full"))),
                      doctest::Contains("\"valid\" or \"same\", got \"full\""));
    CHECK_THROWS_WITH(g.op("max_pool2d", {x}, with("pool", std::vector<int64_t>{6, 2})),
                      doctest::Contains("window is larger than the 5x5 input"));
    // The same window fits once "same" pads the image.
    CHECK(g.op("max_pool2d", {x}, with("padding", std::string("same"))).shape() == Shape{2, 3, 3, 3});
    CHECK_THROWS_WITH(g.op("max_pool2d_grad", {x, x}, ok),
                      doctest::Contains("dy must have the pooled shape"));
    CHECK_THROWS_WITH(g.op("max_pool2d_grad_grad", {x, flat}, ok),
                      doctest::Contains("g must have the shape"));
    const Value dy = g.input("dy", Shape{2, 2, 2, 3});
    CHECK_THROWS_WITH(g.op("avg_pool2d_grad", {dy}, ok), doctest::Contains("`input_shape`"));
    CHECK_THROWS_WITH(g.op("avg_pool2d_grad", {dy}, with("input_shape", std::vector<int64_t>{2, 7, 5, 3})),
                      doctest::Contains("dy must have the pooled shape [2, 3, 2, 3]"));
    CHECK(g.op("avg_pool2d_grad", {dy}, with("input_shape", std::vector<int64_t>{2, 5, 5, 3})).shape() ==
          Shape{2, 5, 5, 3});
    CHECK_THROWS_WITH(g.op("global_avg_pool2d", {flat}), doctest::Contains("[N, H, W, C]"));
}

}  // namespace
