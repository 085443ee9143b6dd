// conv2d and its gradient ops against a naive reference convolution written out loop by loop in double (the
// issue's "verify against a naive reference within 1e-4"), over strides, padding, dilation and groups, and a
// whole conv model's prediction against the same reference.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "backend/backend.h"
#include "core/rng.h"
#include "exec/executor.h"
#include "graph/op.h"
#include "model/model.h"
#include "op_runner.h"
#include "passes/passes.h"
#include "spec/spec.h"

namespace {
using namespace dl;
using dl::testing::run_op;

Tensor random(Shape shape, uint64_t stream) {
    Tensor t(std::move(shape));
    const Rng rng(11, stream);
    for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = 2.0f * rng.uniform(static_cast<uint64_t>(i)) - 1.0f;
    return t;
}

struct Conv {
    int64_t sh = 1, sw = 1, dh = 1, dw = 1, groups = 1;
    std::string padding = "valid";
    Attrs attrs() const {
        return {{"strides", std::vector<int64_t>{sh, sw}},
                {"dilation", std::vector<int64_t>{dh, dw}},
                {"padding", padding},
                {"groups", groups}};
    }
};

// Output size and padding in front, spelled out from TensorFlow's documentation rather than shared with the
// op.
void out_size(int64_t in, int64_t k, int64_t s, int64_t d, bool same, int64_t & out, int64_t & pad) {
    const int64_t span = d * (k - 1) + 1;
    if (same) {
        out = (in + s - 1) / s;
        pad = std::max<int64_t>(0, (out - 1) * s + span - in) / 2;
    } else {
        out = (in - span) / s + 1;
        pad = 0;
    }
}

// y[n, oy, ox, f] = sum over ky, kx, c of x[n, oy*s + ky*d - pad, ox*s + kx*d - pad, group(f) * cg + c] *
// w[ky, kx, c, f]
std::vector<double> reference(const Tensor & x, const Tensor & w, const Conv & c, Shape & shape) {
    const int64_t n = x.shape()[0], h = x.shape()[1], wd = x.shape()[2], ch = x.shape()[3];
    const int64_t kh = w.shape()[0], kw = w.shape()[1], cg = w.shape()[2], f = w.shape()[3],
                  fg = f / c.groups;
    int64_t oh, ow, pt, pl;
    out_size(h, kh, c.sh, c.dh, c.padding == "same", oh, pt);
    out_size(wd, kw, c.sw, c.dw, c.padding == "same", ow, pl);
    shape = Shape{n, oh, ow, f};
    std::vector<double> y(static_cast<size_t>(n * oh * ow * f), 0.0);
    for (int64_t b = 0; b < n; ++b)
        for (int64_t oy = 0; oy < oh; ++oy)
            for (int64_t ox = 0; ox < ow; ++ox)
                for (int64_t o = 0; o < f; ++o) {
                    double s = 0;
                    for (int64_t ky = 0; ky < kh; ++ky)
                        for (int64_t kx = 0; kx < kw; ++kx)
                            for (int64_t i = 0; i < cg; ++i) {
                                const int64_t iy = oy * c.sh + ky * c.dh - pt,
                                              ix = ox * c.sw + kx * c.dw - pl;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                                const int64_t in_c = (o / fg) * cg + i;
                                s += static_cast<double>(x.f32()[((b * h + iy) * wd + ix) * ch + in_c]) *
                                     static_cast<double>(w.f32()[((ky * kw + kx) * cg + i) * f + o]);
                            }
                    y[static_cast<size_t>(((b * oh + oy) * ow + ox) * f + o)] = s;
                }
    return y;
}

void check_close(const Tensor & got, const Shape & shape, const std::vector<double> & want,
                 double tol = 1e-4) {
    REQUIRE(got.shape() == shape);
    double worst = 0;
    for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(got.f32()[i] - want[i]));
    CHECK(worst <= tol);
}

struct Case {
    Shape x, w;
    Conv conv;
};

const std::vector<Case> kCases = {
    {{2, 7, 6, 3}, {3, 3, 3, 4}, {}},
    {{2, 7, 6, 3}, {3, 3, 3, 4}, {.padding = "same"}},
    {{1, 9, 8, 2}, {3, 2, 2, 5}, {.sh = 2, .sw = 3, .padding = "same"}},
    {{1, 9, 8, 2}, {3, 3, 2, 5}, {.sh = 2, .sw = 2}},
    {{2, 9, 9, 2}, {3, 3, 2, 3}, {.dh = 2, .dw = 2, .padding = "same"}},
    {{1, 10, 7, 2}, {2, 3, 2, 3}, {.dh = 3, .dw = 1}},
    {{2, 6, 6, 4}, {3, 3, 2, 6}, {.groups = 2, .padding = "same"}},
    {{2, 6, 5, 4}, {3, 3, 1, 8}, {.groups = 4}},                  // depthwise, multiplier 2
    {{2, 5, 5, 3}, {1, 1, 3, 4}, {}},                             // pointwise: a plain matrix product
    {{3, 28, 28, 1}, {3, 3, 1, 32}, {}},                          // the Fashion-MNIST CNN's first layer
    {{2, 9, 8, 3}, {3, 3, 3, 16}, {.sh = 2, .padding = "same"}},  // few channels: taps summed directly
    {{1, 9, 9, 2}, {3, 2, 2, 32}, {.dh = 2, .dw = 2}},
    {{1, 13, 13, 32}, {3, 3, 32, 64}, {}},  // batch-1 inference: taps summed directly
    {{2, 11, 10, 8}, {3, 3, 8, 48}, {.sh = 2, .sw = 2, .padding = "same"}},
    {{300, 4, 4, 3}, {3, 3, 3, 5}, {.padding = "same"}},  // enough rows for several chunks
};

TEST_CASE("conv2d matches a naive convolution: strides, padding, dilation, groups, depthwise, 1x1") {
    for (const Case & c : kCases) {
        CAPTURE(to_string(c.x));
        CAPTURE(to_string(c.w));
        const Tensor x = random(c.x, 1), w = random(c.w, 2);
        Shape shape;
        const std::vector<double> want = reference(x, w, c.conv, shape);
        check_close(run_op("conv2d", {x, w}, c.conv.attrs()), shape, want);
    }
}

TEST_CASE("conv2d's gradient ops are the transposes of the reference convolution") {
    // <conv(x, w), dy> = <x, backprop_input(dy, w)> = <w, backprop_filter(x, dy)>, each side in double.
    for (const Case & c : kCases) {
        CAPTURE(to_string(c.x));
        CAPTURE(to_string(c.w));
        const Tensor x = random(c.x, 3), w = random(c.w, 4);
        Shape shape;
        const std::vector<double> y = reference(x, w, c.conv, shape);
        const Tensor dy = random(shape, 5);
        double lhs = 0;
        for (size_t i = 0; i < y.size(); ++i) lhs += y[i] * dy.f32()[i];
        Attrs in_attrs = c.conv.attrs(), w_attrs = c.conv.attrs();
        in_attrs.set("input_shape", c.x.dims);
        w_attrs.set("filter_shape", c.w.dims);
        const Tensor dx = run_op("conv2d_grad", {dy, w}, in_attrs);
        const Tensor dw = run_op("conv2d_grad_filter", {x, dy}, w_attrs);
        REQUIRE(dx.shape() == c.x);
        REQUIRE(dw.shape() == c.w);
        double via_x = 0, via_w = 0;
        for (int64_t i = 0; i < x.numel(); ++i) via_x += static_cast<double>(x.f32()[i]) * dx.f32()[i];
        for (int64_t i = 0; i < w.numel(); ++i) via_w += static_cast<double>(w.f32()[i]) * dw.f32()[i];
        CHECK(via_x == doctest::Approx(lhs).epsilon(1e-4));
        CHECK(via_w == doctest::Approx(lhs).epsilon(1e-4));
        // And element by element for one input pixel and one filter tap: a wrong scatter would still fail
        // here.
        const int64_t probe = x.numel() / 2;
        Tensor xp = x;
        xp.f32()[probe] += 1.0f;
        Shape unused;
        const std::vector<double> yp = reference(xp, w, c.conv, unused);
        double d = 0;
        for (size_t i = 0; i < y.size(); ++i) d += (yp[i] - y[i]) * dy.f32()[i];
        CHECK(dx.f32()[probe] == doctest::Approx(d).epsilon(1e-4));
    }
}

TEST_CASE("conv2d and its gradients are bit-identical on 1 and 2 threads") {
    const Case c = {{32, 13, 13, 32}, {3, 3, 32, 64}, {.padding = "same"}};
    const Tensor x = random(c.x, 6), w = random(c.w, 7);
    const Tensor y1 = run_op("conv2d", {x, w}, c.conv.attrs(), {.threads = 1});
    const Tensor y2 = run_op("conv2d", {x, w}, c.conv.attrs(), {.threads = 2});
    CHECK(std::memcmp(y1.f32(), y2.f32(), y1.bytes()) == 0);
    Attrs w_attrs = c.conv.attrs(), in_attrs = c.conv.attrs();
    w_attrs.set("filter_shape", c.w.dims);
    in_attrs.set("input_shape", c.x.dims);
    const Tensor dw1 = run_op("conv2d_grad_filter", {x, y1}, w_attrs, {.threads = 1});
    const Tensor dw2 = run_op("conv2d_grad_filter", {x, y1}, w_attrs, {.threads = 2});
    CHECK(std::memcmp(dw1.f32(), dw2.f32(), dw1.bytes()) == 0);
    const Tensor dx1 = run_op("conv2d_grad", {y1, w}, in_attrs, {.threads = 1});
    const Tensor dx2 = run_op("conv2d_grad", {y1, w}, in_attrs, {.threads = 2});
    CHECK(std::memcmp(dx1.f32(), dx2.f32(), dx1.bytes()) == 0);
}

TEST_CASE("conv2d: shape errors name the layer's problem") {
    Graph g;
    Value x = g.input("x", Shape{1, 4, 4, 3});
    CHECK_THROWS_WITH(g.op("conv2d", {x, g.input("w", Shape{5, 5, 3, 2})}),
                      doctest::Contains("does not fit the 4x4 input"));
    CHECK_THROWS_WITH(g.op("conv2d", {x, g.input("w2", Shape{3, 3, 2, 2})}),
                      doctest::Contains("input channels"));
    CHECK_THROWS_WITH(g.op("conv2d", {x, g.input("w3", Shape{3, 3, 1, 4})}, {{"groups", int64_t{2}}}),
                      doctest::Contains("groups 2 must divide"));
}

TEST_CASE(
    "a conv model's prediction equals the naive reference after fusion (conv + bias + relu in one node)") {
    const Spec spec = parse_spec(R"(
name: tiny-cnn
data: {path: datasets/housing.csv, target: MEDV}
model:
  input: [6, 5, 2]
  layers:
    - conv2d: {filters: 3, kernel_size: 3, padding: same, activation: relu, bias_initializer: ones}
    - flatten: {}
    - dense: {units: 1}
)",
                                 "tiny.yaml", DLCTL_SOURCE_DIR);
    DataInfo info{.sample_shape = {6, 5, 2}, .features = 60, .targets = 1};
    ParamStore params;
    Graph g = build_model_graph(spec, info, 2, GraphMode::predict, params);
    run_passes(g);
    int convs = 0;
    for (const Node & n : g.nodes())
        if (!n.dead && n.op == "conv2d")
            convs += n.inputs.size() == 3 && n.attrs.get_str("activation") == "relu";
    CHECK(convs == 1);
    ThreadPool pool(2);
    CpuBackend cpu;
    Executor ex(std::move(g), params, pool, cpu);
    const Tensor x = random({2, 6, 5, 2}, 8);
    std::memcpy(ex.input("x").data, x.view().data, x.bytes());
    ex.run(1, 0);
    // Reference: relu(conv + 1) flattened, times the dense kernel, plus its (zero) bias.
    Shape shape;
    const std::vector<double> conv = reference(x, params.at("conv2d/kernel"), {.padding = "same"}, shape);
    const Tensor & dense = params.at("dense/kernel");
    for (int64_t b = 0; b < 2; ++b) {
        double want = 0;
        for (int64_t i = 0; i < 90; ++i)
            want += std::max(0.0, conv[static_cast<size_t>(b * 90 + i)] + 1.0) * dense.f32()[i];
        CHECK(ex.output("prediction").f32()[b] == doctest::Approx(want).epsilon(1e-4));
    }
}

}  // namespace
