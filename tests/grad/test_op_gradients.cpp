// Registry-driven op tests (docs/ARCHITECTURE.md §3, §5): every registered op that is not `.test.skip` is run
// on each of its `.test.cases`; its kernel must write exactly the inferred output (sentinels around the
// buffer stay intact) and finite values, a run of its forward and backward graph must not allocate, and the
// gradient that autodiff builds from its rule must match central differences.
//
// Note [gradient check]: the objective is L = sum(out * R) with R a fixed random tensor, so every output
// element matters with a different weight. The analytic gradient comes from the graph (float32); the
// numerical one perturbs one element at a time by h = 1e-3 * max(1, |x|) and evaluates L in double from the
// float output: elements that the perturbation does not reach round identically in both runs and cancel
// exactly, so the noise is about 1e-7 / h relative per affected output. A point passes when |analytic -
// numeric| <= kAbsTol + kRelTol * |numeric| (5e-4 + 2e-3 |numeric|). Every case stays under 0.4 of that; it
// is tight enough to fail a rule that is off by a few percent: breaking rules by hand (sigmoid's y(1-y)
// scaled by 0.97, elu without its alpha, leaky_relu's slope, log_softmax's sum scaled by 0.98, minimum's mask
// swapped, pow's db without y, sqrt using x for y, clip's upper mask, concat's offsets, mean's 1/count)
// failed every one of them. Kinks: for ops with `.test.has_kink`, points within 2h of `.test.kink` are
// skipped, and so is any point where the one-sided differences disagree by more than the tolerance — the
// interval then holds a kink that is not at a fixed place (a tie in max or minimum, the edges of clip). At
// least half the sampled points must be checked.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <set>
#include <sstream>

#include "autodiff/autodiff.h"
#include "backend/backend.h"
#include "core/rng.h"
#include "exec/executor.h"
#include "graph/op.h"
#include "passes/passes.h"

// Count heap allocations: a kernel must not allocate once the executor is built (the training step runs
// allocation-free), so every op's forward and backward run is counted below.
static std::atomic<long> g_allocations{0};
void * operator new(size_t n) {
    ++g_allocations;
    if (void * p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
// noinline: once inlined into std::allocator, GCC 12 takes the malloc/free pairing for a new/free mismatch.
__attribute__((noinline)) void operator delete(void * p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void * p, size_t) noexcept { std::free(p); }

namespace {
using namespace dl;

constexpr uint64_t kSeed = 20240611, kStep = 3;  // random ops see the same (seed, step) in every evaluation
constexpr double kRelStep = 1e-3;
constexpr double kAbsTol = 5e-4, kRelTol = 2e-3;
constexpr int kMaxSamples = 40;

Tensor random_tensor(const Shape & shape, float low, float high, uint64_t stream) {
    Tensor t(shape);
    const Rng rng(kSeed, stream);
    for (int64_t i = 0; i < t.numel(); ++i)
        t.f32()[i] = low + (high - low) * rng.uniform(static_cast<uint64_t>(i));
    return t;
}

// Element indices to perturb: all of a small tensor, otherwise kMaxSamples spread by a fixed generator.
std::vector<int64_t> sample_indices(int64_t n, uint64_t stream) {
    std::vector<int64_t> out;
    if (n <= kMaxSamples) {
        for (int64_t i = 0; i < n; ++i) out.push_back(i);
        return out;
    }
    const std::vector<int64_t> perm = Rng(kSeed, stream).permutation(n);
    out.assign(perm.begin(), perm.begin() + kMaxSamples);
    return out;
}

std::string describe_case(const std::string & op, const std::vector<Shape> & shapes, const Attrs & attrs) {
    std::string s = op + "(";
    for (size_t i = 0; i < shapes.size(); ++i) s += (i ? ", " : "") + to_string(shapes[i]);
    return s + ")" + (attrs.all().empty() ? "" : " {" + attrs.to_string() + "}");
}

// Runs a primitive op's kernel straight into a buffer with NaN-pattern sentinels on both sides: the kernel
// must leave the sentinels alone and overwrite every element of its output.
void check_kernel_bounds(const Graph & g, int node_id, const std::vector<Tensor> & inputs,
                         ThreadPool & pool) {
    const Node & n = g.node(node_id);
    if (n.def->cpu == nullptr) return;
    constexpr int64_t kPad = 16;
    constexpr uint32_t kSentinel = 0x7fc0dead;  // a quiet NaN: no kernel produces this exact pattern
    const int64_t numel = n.shape.numel();
    const size_t width = dtype_size(n.dtype);
    std::vector<uint32_t> buffer(static_cast<size_t>((numel * static_cast<int64_t>(width) / 4) + 2 * kPad),
                                 kSentinel);
    KernelCtx k{.node = n,
                .output = TensorView{buffer.data() + kPad, n.dtype, n.shape},
                .pool = pool,
                .seed = kSeed,
                .step = kStep};
    for (const Tensor & t : inputs) k.inputs.push_back(t.view());
    std::vector<std::byte> workspace;
    if (n.def->workspace) {
        ShapeCtx shapes{g, n};
        workspace.resize(n.def->workspace(shapes, pool.size()));
        k.workspace = workspace.data();
        k.workspace_bytes = workspace.size();
    }
    n.def->cpu(k);
    for (int64_t i = 0; i < kPad; ++i) {
        CHECK_MESSAGE(buffer[static_cast<size_t>(i)] == kSentinel, "kernel wrote before its output, at -",
                      kPad - i);
        CHECK_MESSAGE(buffer[buffer.size() - 1 - static_cast<size_t>(i)] == kSentinel,
                      "kernel wrote past its output, at +", i);
    }
    const size_t words = buffer.size() - 2 * kPad;
    int64_t untouched = 0;
    for (size_t i = 0; i < words; ++i) untouched += buffer[kPad + i] == kSentinel;
    CHECK_MESSAGE(untouched == 0, untouched, " output words were never written");
}

struct CheckOptions {
    std::vector<int> class_inputs;
    int64_t classes = 0;
    float low = -1.0f, high = 1.0f;
    bool has_kink = false;
    float kink = 0.0f;
};

CheckOptions options_of(const OpTest & t) {
    return {.class_inputs = t.class_inputs,
            .classes = t.classes,
            .low = t.low,
            .high = t.high,
            .has_kink = t.has_kink,
            .kink = t.kink};
}

// One case; an exception (a shape error in the op's own test data, say) fails the case, not the whole loop.
int check_op(const std::string & op, const std::vector<Shape> & shapes, const Attrs & attrs,
             const CheckOptions & opt);
int check_op_caught(const std::string & op, const std::vector<Shape> & shapes, const Attrs & attrs,
                    const CheckOptions & opt) {
    try {
        return check_op(op, shapes, attrs, opt);
    } catch (const std::exception & e) {
        FAIL_CHECK(describe_case(op, shapes, attrs) << " threw: " << e.what());
        return 0;
    }
}

// Worst error seen, as a fraction of the tolerance (DLCTL_GRAD_VERBOSE=1 prints it per case, for tuning).
double g_worst_ratio = 0.0;

// Builds `op` on inputs of `shapes`, checks shapes, finiteness, kernel bounds and gradients. Returns the
// number of gradient points compared.
int check_op(const std::string & op, const std::vector<Shape> & shapes, const Attrs & attrs,
             const CheckOptions & opt) {
    const std::string label = describe_case(op, shapes, attrs);
    INFO(label);
    ThreadPool pool(1);
    CpuBackend cpu;
    Graph g;
    ParamStore params;
    std::vector<Value> inputs;
    std::vector<Tensor> values;  // host copies of every input, for the bounds check
    std::vector<int> wrt;
    std::set<int> classes(opt.class_inputs.begin(), opt.class_inputs.end());
    for (size_t i = 0; i < shapes.size(); ++i) {
        const std::string name = "in" + std::to_string(i);
        if (classes.count(static_cast<int>(i))) {
            inputs.push_back(g.input(name, shapes[i], DType::i32));
            Tensor t(shapes[i], DType::i32);
            const Rng rng(kSeed, Rng::stream("labels", i));
            for (int64_t j = 0; j < t.numel(); ++j)
                static_cast<int32_t *>(t.view().data)[j] = static_cast<int32_t>(
                    rng.bits(static_cast<uint64_t>(j)) % static_cast<uint64_t>(opt.classes));
            values.push_back(std::move(t));
        } else {
            inputs.push_back(g.param(name, shapes[i]));
            wrt.push_back(inputs.back().id);
            values.push_back(random_tensor(shapes[i], opt.low, opt.high, Rng::stream("input", i)));
            Tensor & p = params.add(name, shapes[i]);
            std::memcpy(p.f32(), values.back().f32(), p.bytes());
        }
    }
    const Value out = g.op(op, inputs, attrs);
    const bool composite = find_op(op)->expand != nullptr;
    const Shape out_shape = out.shape();
    const DType out_dtype = out.node().dtype;
    g.mark_output("out", out);
    if (!composite) check_kernel_bounds(g, out.id, values, pool);

    const bool differentiable = out_dtype == DType::f32 && !wrt.empty();
    Tensor r;
    if (differentiable) {
        r = random_tensor(out_shape, -1.0f, 1.0f, Rng::stream("objective"));
        const Value loss = g.op("sum", {out * g.constant(r)});
        g.mark_output("loss", loss);
        append_backward(g, loss, wrt);
    }

    Executor ex(g, params, pool, cpu);
    for (size_t i = 0; i < shapes.size(); ++i)
        if (classes.count(static_cast<int>(i)))
            std::memcpy(ex.input("in" + std::to_string(i)).data, values[i].view().data, values[i].bytes());
    ex.run(kSeed, kStep);
    const long allocations_before = g_allocations.load();
    ex.run(kSeed, kStep);
    const long allocations = g_allocations.load() - allocations_before;
    CHECK_MESSAGE(allocations == 0, "a run of the forward and backward graph allocated ", allocations,
                  " times");
    const TensorView y = ex.output("out");
    REQUIRE(y.numel() == out_shape.numel());
    if (out_dtype == DType::f32) {
        int64_t bad = 0;
        for (int64_t i = 0; i < y.numel(); ++i) bad += !std::isfinite(y.f32()[i]);
        CHECK_MESSAGE(bad == 0, bad, " output values are not finite");
    }
    if (!differentiable) return 0;

    auto objective = [&] {
        ex.run(kSeed, kStep);
        double l = 0;
        for (int64_t i = 0; i < y.numel(); ++i)
            l += static_cast<double>(y.f32()[i]) * static_cast<double>(r.f32()[i]);
        return l;
    };
    // Every analytic gradient is read before any input is perturbed. A rule that gives no gradient (equal,
    // step) shows up as a zero constant: the numerical derivative must then be zero too.
    const double l0 = objective();
    std::vector<std::vector<float>> analytic_of;
    for (int id : wrt) {
        const TensorView grad = ex.output("grad/" + g.node(id).name);
        analytic_of.emplace_back(grad.f32(), grad.f32() + grad.numel());
    }
    int compared = 0;
    for (size_t w = 0; w < wrt.size(); ++w) {
        const Node & pn = g.node(wrt[w]);
        Tensor & x = params.at(pn.name);
        const std::vector<float> & analytic = analytic_of[w];
        int checked = 0, sampled = 0;
        for (int64_t j : sample_indices(x.numel(), Rng::stream("sample", w))) {
            ++sampled;
            const float x0 = x.f32()[j];
            const double h = kRelStep * std::max(1.0, std::fabs(static_cast<double>(x0)));
            if (opt.has_kink && std::fabs(x0 - opt.kink) < 2 * h) continue;
            const float xp = static_cast<float>(x0 + h), xm = static_cast<float>(x0 - h);
            x.f32()[j] = xp;
            const double lp = objective();
            x.f32()[j] = xm;
            const double lm = objective();
            x.f32()[j] = x0;
            const double numeric = (lp - lm) / (static_cast<double>(xp) - static_cast<double>(xm));
            const double tol = kAbsTol + kRelTol * std::fabs(numeric);
            if (opt.has_kink) {
                const double fwd = (lp - l0) / (static_cast<double>(xp) - x0),
                             bwd = (l0 - lm) / (x0 - static_cast<double>(xm));
                if (std::fabs(fwd - bwd) > tol) continue;
            }
            ++checked;
            const double a = analytic[static_cast<size_t>(j)];
            g_worst_ratio = std::max(g_worst_ratio, std::fabs(a - numeric) / tol);
            CHECK_MESSAGE(std::fabs(a - numeric) <= tol, "d/d", pn.name, "[", j, "] at ", x0, ": analytic ",
                          a, ", numeric ", numeric);
        }
        CHECK_MESSAGE(2 * checked >= sampled, pn.name, ": only ", checked, " of ", sampled,
                      " points were away from kinks");
        compared += checked;
    }
    return compared;
}

const bool g_verbose = std::getenv("DLCTL_GRAD_VERBOSE") != nullptr;

TEST_CASE("every registered op: output shape, kernel bounds, finite values, gradient vs finite differences") {
    int ops = 0, points = 0;
    for (const OpDef * def : all_ops()) {
        if (def->test.skip) continue;
        ++ops;
        CHECK_MESSAGE(!def->test.cases.empty(), def->name, " has no test cases");
        for (const std::vector<Shape> & shapes : def->test.cases) {
            g_worst_ratio = 0;
            const int n = check_op_caught(def->name, shapes, def->test.attrs, options_of(def->test));
            points += n;
            if (g_verbose)
                MESSAGE(describe_case(def->name, shapes, def->test.attrs), ": ", n, " points, worst error ",
                        g_worst_ratio, " of tolerance");
        }
    }
    MESSAGE(ops, " ops, ", points, " gradient points compared");
    CHECK(ops >= 40);
}

// Attribute settings the registry's single `.test.attrs` cannot cover.
TEST_CASE("gradients of attribute variants") {
    auto ints = [](std::initializer_list<int64_t> v) { return std::vector<int64_t>(v); };
    struct Variant {
        std::string op;
        std::vector<std::vector<Shape>> cases;
        Attrs attrs;
        CheckOptions opt;
    };
    const CheckOptions kinked{.has_kink = true};
    const std::vector<Variant> variants = {
        {"binary_crossentropy",
         {{{4, 3}, {4, 3}}},
         {{"from_logits", int64_t{1}}},
         {.low = -3.0f, .high = 3.0f}},
        {"categorical_crossentropy",
         {{{4, 3}, {4, 3}}, {{6}, {6}}},
         {{"from_logits", int64_t{1}}},
         {.low = -3.0f, .high = 3.0f}},
        {"huber", {{{4, 3}, {4, 3}}}, {{"delta", 0.5}}, kinked},
        {"transpose", {{{3, 4}}, {{2, 3, 4}}, {{5}}}, {}, {}},
        {"concat", {{{2, 3}, {1, 3}, {3, 3}}}, {{"axis", int64_t{0}}}, {}},
        {"concat", {{{2, 3, 2}, {2, 1, 2}}}, {{"axis", int64_t{1}}}, {}},
        {"slice", {{{2, 3, 4}}}, {{"begin", ints({1, 0, 1})}, {"size", ints({1, -1, 2})}}, {}},
        {"pad", {{{2, 3, 4}}}, {{"before", ints({0, 1, 2})}, {"after", ints({1, 0, 1})}}, {}},
        {"max", {{{3, 4}}, {{2, 3, 4}}}, {}, kinked},
        {"max", {{{2, 3, 4}}}, {{"axes", ints({0, 2})}, {"keepdims", int64_t{1}}}, kinked},
        {"sum", {{{2, 3, 4}}}, {{"axes", ints({-1})}, {"keepdims", int64_t{1}}}, {}},
        {"mean", {{{2, 3, 4}}}, {}, {}},
        {"elu", {{{3, 5}}}, {}, {.low = -2.0f, .high = 2.0f}},
        {"leaky_relu", {{{3, 5}}}, {{"alpha", 0.1}}, kinked},
        {"matmul", {{{4, 3}, {4, 5}}}, {{"transpose_a", int64_t{1}}}, {}},
        {"matmul", {{{3, 4}, {5, 4}}}, {{"transpose_b", int64_t{1}}}, {}},
        {"matmul", {{{4, 3}, {5, 4}}}, {{"transpose_a", int64_t{1}}, {"transpose_b", int64_t{1}}}, {}},
        {"fused_dense", {{{5, 4}, {4, 3}, {3}}}, {{"activation", std::string("sigmoid")}}, {}},
        {"fused_dense", {{{5, 4}, {4, 3}, {3}}}, {{"activation", std::string("relu")}}, kinked},
        {"conv2d", {{{2, 7, 6, 2}, {3, 3, 2, 3}}}, {{"strides", ints({2, 2})}}, {}},
        {"conv2d",
         {{{1, 7, 6, 2}, {3, 2, 2, 3}}},
         {{"strides", ints({2, 3})}, {"padding", std::string("same")}},
         {}},
        {"conv2d",
         {{{1, 7, 7, 2}, {3, 3, 2, 2}}},
         {{"dilation", ints({2, 2})}, {"padding", std::string("same")}},
         {}},
        {"conv2d",
         {{{2, 5, 5, 4}, {3, 3, 2, 4}}},
         {{"groups", int64_t{2}}, {"padding", std::string("same")}},
         {}},
        {"conv2d", {{{1, 5, 4, 3}, {2, 2, 1, 6}}}, {{"groups", int64_t{3}}}, {}},  // depthwise, multiplier 2
        {"conv2d", {{{2, 5, 5, 2}, {3, 3, 2, 3}, {3}}}, {{"activation", std::string("relu")}}, kinked},
        {"conv2d_grad",
         {{{1, 3, 2, 3}, {3, 3, 2, 3}}},
         {{"strides", ints({2, 2})}, {"input_shape", ints({1, 7, 6, 2})}},
         {}},
        {"conv2d_grad_filter",
         {{{1, 7, 7, 2}, {1, 7, 7, 2}}},
         {{"dilation", ints({2, 2})}, {"padding", std::string("same")}, {"filter_shape", ints({3, 3, 2, 2})}},
         {}},
        {"fused_dense", {{{5, 4}, {4, 3}, {3}}}, {}, {}},
        {"pow", {{{3, 4}, {3, 4}}}, {}, {.low = 0.5f, .high = 2.0f}},
        {"dropout", {{{40, 30}}}, {{"rate", 0.5}, {"key", int64_t{3}}}, {}},
        // Square shapes: a [n, 1] row statistic against [n, n] must broadcast along rows (binary_map once
        // mistook it for a bias row, which broke softmax's gradient whenever batch == classes).
        {"softmax", {{{4, 4}}}, {}, {.low = -2.0f, .high = 2.0f}},
        {"log_softmax", {{{4, 4}}}, {}, {.low = -2.0f, .high = 2.0f}},
        {"categorical_crossentropy", {{{3, 3}, {3, 3}}}, {}, {.low = 0.05f, .high = 0.95f}},
        {"categorical_crossentropy", {{{3, 3}, {3, 3}}}, {{"from_logits", int64_t{1}}}, {}},
        {"sparse_categorical_crossentropy", {{{3, 3}, {3}}}, {}, {.class_inputs = {1}, .classes = 3}},
        {"div", {{{3, 3}, {3, 1}}}, {}, {.low = 0.5f, .high = 2.0f}},
        // Pooling: overlapping windows (stride < pool), "same" on odd sizes, non-square windows, "valid"
        // dropping the last rows and columns.
        {"max_pool2d",
         {{{1, 5, 4, 2}}},
         {{"pool", ints({3, 3})}, {"strides", ints({1, 1})}, {"padding", std::string("valid")}},
         kinked},
        {"max_pool2d",
         {{{2, 5, 3, 1}}},
         {{"pool", ints({2, 3})}, {"strides", ints({2, 1})}, {"padding", std::string("same")}},
         kinked},
        {"max_pool2d",
         {{{1, 7, 5, 3}}},
         {{"pool", ints({3, 2})}, {"strides", ints({2, 2})}, {"padding", std::string("valid")}},
         kinked},
        {"max_pool2d_grad",
         {{{1, 5, 5, 2}, {1, 2, 2, 2}}},
         {{"pool", ints({2, 2})}, {"strides", ints({2, 2})}, {"padding", std::string("valid")}},
         kinked},
        {"max_pool2d_grad_grad",
         {{{1, 5, 5, 2}, {1, 5, 5, 2}}},
         {{"pool", ints({3, 3})}, {"strides", ints({2, 2})}, {"padding", std::string("same")}},
         kinked},
        {"avg_pool2d",
         {{{1, 5, 4, 2}}},
         {{"pool", ints({3, 3})}, {"strides", ints({1, 1})}, {"padding", std::string("same")}},
         {}},
        {"avg_pool2d",
         {{{2, 5, 4, 1}}},
         {{"pool", ints({2, 3})}, {"strides", ints({2, 1})}, {"padding", std::string("valid")}},
         {}},
        {"avg_pool2d_grad",
         {{{2, 3, 2, 1}}},
         {{"pool", ints({2, 2})},
          {"strides", ints({2, 2})},
          {"padding", std::string("same")},
          {"input_shape", ints({2, 5, 3, 1})}},
         {}},
    };
    for (const Variant & v : variants)
        for (const std::vector<Shape> & shapes : v.cases) {
            g_worst_ratio = 0;
            const int n = check_op_caught(v.op, shapes, v.attrs, v.opt);
            if (g_verbose)
                MESSAGE(describe_case(v.op, shapes, v.attrs), ": ", n, " points, worst error ", g_worst_ratio,
                        " of tolerance");
        }
}

// Random inputs never tie, so the sharing rule of max's gradient needs inputs made for it.
TEST_CASE("max shares its gradient among tied maxima") {
    Graph g;
    const Value x = g.param("x", Shape{2, 4});
    Tensor w(Shape{2});  // dL/dy = [1, 3]
    w.f32()[0] = 1.0f;
    w.f32()[1] = 3.0f;
    const Value loss = g.op("sum", {g.op("max", {x}, {{"axes", std::vector<int64_t>{1}}}) * g.constant(w)});
    append_backward(g, loss, {x.id});
    ParamStore params;
    Tensor & xv = params.add("x", Shape{2, 4});
    const float values[] = {1, 3, 3, 2, 5, 5, 5, 5};
    std::copy(std::begin(values), std::end(values), xv.f32());
    ThreadPool pool(1);
    CpuBackend cpu;
    Executor ex(g, params, pool, cpu);
    ex.run(kSeed, kStep);
    const TensorView d = ex.output("grad/x");
    const std::vector<float> got(d.f32(), d.f32() + d.numel());
    CHECK(got == std::vector<float>{0, 0.5f, 0.5f, 0, 0.75f, 0.75f, 0.75f, 0.75f});
}

// Note [one spelling]: YAML name = file name = registry key. A file is an op file iff it registers an op.
TEST_CASE("each engine/ops/*.cpp registers exactly the op named after it") {
    namespace fs = std::filesystem;
    const fs::path dir = fs::path(DLCTL_SOURCE_DIR) / "engine" / "ops";
    REQUIRE(fs::is_directory(dir));
    std::map<std::string, int> registered_from;  // file stem -> ops registered there
    for (const OpDef * def : all_ops()) {
        const fs::path file(def->file);
        INFO("op ", def->name, " registered from ", def->file);
        CHECK(file.stem().string() == def->name);
        CHECK(file.parent_path().filename().string() == "ops");
        ++registered_from[file.stem().string()];
    }
    int op_files = 0;
    for (const fs::directory_entry & e : fs::directory_iterator(dir)) {
        if (e.path().extension() != ".cpp") continue;
        std::ifstream in(e.path());
        std::stringstream text;
        text << in.rdbuf();
        if (text.str().find("DL_REGISTER_OP(") == std::string::npos) continue;
        ++op_files;
        const std::string stem = e.path().stem().string();
        INFO("file ", e.path().string());
        CHECK(find_op(stem) != nullptr);
        CHECK(registered_from[stem] == 1);
    }
    CHECK(op_files == static_cast<int>(all_ops().size()));
}

// x[4,3] -> matmul W1[3,5] -> bias_add b1 -> act -> matmul W2[5,2] -> bias_add b2 -> mse against a fixed
// target.
struct Mlp {
    Graph g;
    ParamStore params;
    std::vector<std::string> names = {"w1", "b1", "w2", "b2"};

    explicit Mlp(const std::string & act) {
        const std::vector<Shape> shapes = {{3, 5}, {5}, {5, 2}, {2}};
        std::vector<int> wrt;
        std::vector<Value> p;
        for (size_t i = 0; i < names.size(); ++i) {
            p.push_back(g.param(names[i], shapes[i]));
            wrt.push_back(p.back().id);
            Tensor & t = params.add(names[i], shapes[i]);
            const Tensor init = random_tensor(shapes[i], -1.0f, 1.0f, Rng::stream("mlp", names[i]));
            std::memcpy(t.f32(), init.f32(), t.bytes());
        }
        const Value x = g.input("x", Shape{4, 3});
        const Value target =
            g.constant(random_tensor(Shape{4, 2}, -1.0f, 1.0f, Rng::stream("mlp", "target")));
        Value h = g.op(act, {g.op("bias_add", {g.op("matmul", {x, p[0]}), p[1]})});
        Value y = g.op("bias_add", {g.op("matmul", {h, p[2]}), p[3]});
        const Value loss = g.op("mse", {y, target});
        g.mark_output("loss", loss);
        append_backward(g, loss, wrt);
    }
    static void feed(Executor & ex) {
        const Tensor x = random_tensor(Shape{4, 3}, -2.0f, 2.0f, Rng::stream("mlp", "x"));
        std::memcpy(ex.input("x").data, x.f32(), x.bytes());
    }
};

void check_mlp(const std::string & act) {
    INFO("activation ", act);
    Mlp m(act);
    ThreadPool pool(1);
    CpuBackend cpu;
    Executor ex(m.g, m.params, pool, cpu);
    Mlp::feed(ex);
    auto loss = [&] {
        ex.run(kSeed, kStep);
        return static_cast<double>(ex.output("loss").f32()[0]);
    };
    const double l0 = loss();
    std::map<std::string, std::vector<float>> grads;
    for (const std::string & name : m.names) {
        const TensorView gv = ex.output("grad/" + name);
        grads[name].assign(gv.f32(), gv.f32() + gv.numel());
    }
    for (const std::string & name : m.names) {
        Tensor & p = m.params.at(name);
        for (int64_t j = 0; j < p.numel(); ++j) {
            const float x0 = p.f32()[j];
            const double h = kRelStep * std::max(1.0, std::fabs(static_cast<double>(x0)));
            const float xp = static_cast<float>(x0 + h), xm = static_cast<float>(x0 - h);
            p.f32()[j] = xp;
            const double lp = loss();
            p.f32()[j] = xm;
            const double lm = loss();
            p.f32()[j] = x0;
            const double numeric = (lp - lm) / (static_cast<double>(xp) - static_cast<double>(xm));
            const double a = grads[name][static_cast<size_t>(j)];
            CHECK_MESSAGE(std::fabs(a - numeric) <= kAbsTol + kRelTol * std::fabs(numeric), name, "[", j,
                          "]: analytic ", a, ", numeric ", numeric);
        }
    }
    CHECK(loss() == l0);

    // The standard passes fuse both layers into fused_dense; the loss and every gradient must not move.
    Graph fused = m.g;
    run_passes(fused);
    int dense = 0, with_act = 0;
    for (const Node & n : fused.nodes()) {
        if (n.dead || n.op != "fused_dense") continue;
        ++dense;
        with_act += n.attrs.get_str("activation") == act;
    }
    CHECK(dense == 2);
    CHECK(with_act == 1);
    Executor fx(fused, m.params, pool, cpu);
    Mlp::feed(fx);
    fx.run(kSeed, kStep);
    CHECK(fx.output("loss").f32()[0] == doctest::Approx(l0).epsilon(1e-6));
    int differing_bits = 0;
    for (const std::string & name : m.names) {
        const TensorView gv = fx.output("grad/" + name);
        for (int64_t j = 0; j < gv.numel(); ++j) {
            const float a = grads[name][static_cast<size_t>(j)], b = gv.f32()[j];
            differing_bits += a != b;
            CHECK_MESSAGE(std::fabs(a - b) <= 1e-6f * std::max(1.0f, std::fabs(a)), name, "[", j,
                          "]: unfused ", a, ", fused ", b);
        }
    }
    differing_bits += fx.output("loss").f32()[0] != static_cast<float>(l0);
    MESSAGE(act, ": fused vs unfused, ", differing_bits, " of 33 values differ in any bit");
}

TEST_CASE("whole-model gradient check: a two-layer MLP, unfused and fused") {
    for (const char * act : {"tanh", "sigmoid", "relu"})
        check_mlp(act);  // what fusion folds into fused_dense
}

}  // namespace
