// The executor and the memory plan: intermediates share one arena by liveness, live ranges never overlap, and
// the steady-state training step allocates nothing.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <set>

#include "exec/executor.h"
#include "model/model.h"
#include "passes/passes.h"

// Count every heap allocation made by this test executable.
static std::atomic<long> g_allocations{0};
void * operator new(size_t n) {
    ++g_allocations;
    if (void * p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void * p) noexcept { std::free(p); }
void operator delete(void * p, size_t) noexcept { std::free(p); }

namespace {

dl::Spec mlp_spec() {
    return dl::parse_spec(R"(
name: mlp
seed: 3
data: {path: datasets/housing.csv, target: MEDV}
model:
  input: [13]
  layers:
    - dense: {units: 32, activation: relu}
    - dropout: {rate: 0.25}
    - dense: {units: 16, activation: tanh}
    - dense: {units: 1}
train: {loss: huber, optimizer: adam}
)",
                          "mlp.yaml", DLCTL_SOURCE_DIR);
}

}  // namespace

TEST_CASE("the memory plan reuses memory and never overlaps live intermediates") {
    const dl::Spec spec = mlp_spec();
    dl::ParamStore params;
    dl::Graph g =
        dl::build_model_graph(spec, {.features = 13, .targets = 1}, 64, dl::GraphMode::train, params);
    dl::run_passes(g);
    const dl::MemoryPlan plan = dl::plan_memory(g);
    CHECK(plan.arena_bytes > 0);
    CHECK(plan.arena_bytes < plan.unplanned_bytes);  // reuse happened

    // Interval check: a value is live from its producer to its last consumer (outputs to the end).
    std::vector<int> last(g.nodes().size(), -1);
    for (const dl::Node & n : g.nodes())
        if (!n.dead)
            for (int in : n.inputs)
                last[static_cast<size_t>(in)] = std::max(last[static_cast<size_t>(in)], n.id);
    for (auto & [name, id] : g.outputs()) last[static_cast<size_t>(id)] = static_cast<int>(g.nodes().size());
    auto bytes = [&](const dl::Node & n) {
        return static_cast<size_t>(n.shape.numel()) * dl::dtype_size(n.dtype);
    };
    for (int a : plan.schedule) {
        for (int b : plan.schedule) {
            if (a >= b) continue;
            const dl::Node &na = g.node(a), &nb = g.node(b);
            const bool live_together =
                last[static_cast<size_t>(a)] >= b;  // a still needed when b is produced
            if (!live_together) continue;
            const size_t a0 = plan.offset[static_cast<size_t>(a)], b0 = plan.offset[static_cast<size_t>(b)];
            const bool disjoint = a0 + bytes(na) <= b0 || b0 + bytes(nb) <= a0;
            CHECK_MESSAGE(disjoint, "%" << a << " and %" << b << " overlap while both are live");
        }
    }
}

TEST_CASE("fusion turns matmul + bias_add + activation into fused_dense") {
    const dl::Spec spec = mlp_spec();
    dl::ParamStore params;
    dl::Graph g =
        dl::build_model_graph(spec, {.features = 13, .targets = 1}, 8, dl::GraphMode::predict, params);
    dl::run_passes(g);
    int fused = 0, matmuls = 0;
    for (const dl::Node & n : g.nodes()) {
        if (n.dead) continue;
        fused += n.op == "fused_dense";
        matmuls += n.op == "matmul";
    }
    CHECK(fused == 3);
    CHECK(matmuls == 0);
}

TEST_CASE("after the passes no two live nodes compute the same thing") {
    const dl::Spec spec = mlp_spec();
    dl::ParamStore params;
    dl::Graph g =
        dl::build_model_graph(spec, {.features = 13, .targets = 1}, 16, dl::GraphMode::train, params);
    const size_t before = g.nodes().size();
    dl::run_passes(g);
    std::set<std::string> keys;
    int live = 0;
    for (const dl::Node & n : g.nodes()) {
        if (n.dead || n.def->leaf) continue;
        ++live;
        std::string key = n.op + "(";
        for (int in : n.inputs) key += std::to_string(in) + ",";
        key += ")" + n.attrs.to_string();
        CHECK_MESSAGE(keys.insert(key).second, "duplicate node " << key);
    }
    CHECK(live < static_cast<int>(before));
}

TEST_CASE("the steady-state training step allocates nothing") {
    const dl::Spec spec = mlp_spec();
    dl::ParamStore params;
    dl::Graph g =
        dl::build_model_graph(spec, {.features = 13, .targets = 1}, 32, dl::GraphMode::train, params);
    dl::run_passes(g);
    dl::ThreadPool pool(2);
    dl::CpuBackend cpu;
    dl::Executor ex(std::move(g), params, pool, cpu);
    float * x = ex.input("x").f32();
    for (int i = 0; i < 32 * 13; ++i) x[i] = static_cast<float>(i % 7) - 3.0f;
    float * y = ex.input("y").f32();
    for (int i = 0; i < 32; ++i) y[i] = static_cast<float>(i % 5);
    ex.run(1, 0);  // warm-up
    const long before = g_allocations.load();
    for (uint64_t step = 1; step <= 20; ++step) ex.run(1, step);
    CHECK(g_allocations.load() - before == 0);
    CHECK(std::isfinite(ex.output("loss").f32()[0]));
}
