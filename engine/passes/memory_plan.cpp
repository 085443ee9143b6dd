// Note [memory plan]: every intermediate gets a byte range in one arena, chosen by liveness: a node's range
// is taken just before it runs and given back after its last consumer ran; graph outputs live to the end.
// Free ranges are reused first-fit, so the training step needs one allocation, made once, and none in steady
// state. A node's output never shares memory with its own inputs (taken before the inputs are released).
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "graph/op.h"
#include "passes/passes.h"

namespace dl {

static size_t align64(size_t n) { return (n + 63) / 64 * 64; }

MemoryPlan plan_memory(const Graph & g) {
    MemoryPlan plan;
    const size_t count = g.nodes().size();
    plan.offset.assign(count, MemoryPlan::kExternal);
    std::vector<int> last_use(count, -1);
    for (const Node & n : g.nodes()) {
        if (n.dead) continue;
        for (int in : n.inputs)
            last_use[static_cast<size_t>(in)] = std::max(last_use[static_cast<size_t>(in)], n.id);
        if (n.op == "param")
            plan.param_bytes += align64(static_cast<size_t>(n.shape.numel()) * dtype_size(n.dtype));
    }
    for (auto & [name, id] : g.outputs()) last_use[static_cast<size_t>(id)] = static_cast<int>(count);

    std::map<size_t, size_t> free_ranges;  // offset -> size, merged when adjacent
    auto release = [&](size_t off, size_t size) {
        auto it = free_ranges.emplace(off, size).first;
        if (auto next = std::next(it); next != free_ranges.end() && it->first + it->second == next->first) {
            it->second += next->second;
            free_ranges.erase(next);
        }
        if (it != free_ranges.begin()) {
            auto prev = std::prev(it);
            if (prev->first + prev->second == it->first) {
                prev->second += it->second;
                free_ranges.erase(it);
            }
        }
    };
    std::vector<std::vector<int>> expiring(count + 1);
    for (const Node & n : g.nodes()) {
        if (n.dead || n.def->leaf) continue;
        const size_t size = align64(static_cast<size_t>(n.shape.numel()) * dtype_size(n.dtype));
        plan.schedule.push_back(n.id);
        plan.unplanned_bytes += size;
        size_t off = plan.arena_bytes;
        auto fit =
            std::find_if(free_ranges.begin(), free_ranges.end(), [&](auto & r) { return r.second >= size; });
        if (fit != free_ranges.end()) {
            off = fit->first;
            const size_t rest = fit->second - size;
            free_ranges.erase(fit);
            if (rest) free_ranges.emplace(off + size, rest);
        } else {
            // Grow the arena; a free range touching its end is extended rather than wasted.
            if (!free_ranges.empty()) {
                auto last = std::prev(free_ranges.end());
                if (last->first + last->second == plan.arena_bytes) {
                    off = last->first;
                    free_ranges.erase(last);
                }
            }
            plan.arena_bytes = off + size;
        }
        plan.offset[static_cast<size_t>(n.id)] = off;
        const int last = last_use[static_cast<size_t>(n.id)];
        if (last >= 0 && last < static_cast<int>(count)) expiring[static_cast<size_t>(last)].push_back(n.id);
        if (last < 0) release(off, size);  // nobody reads it (cannot happen after dead-node elimination)
        for (int done : expiring[static_cast<size_t>(n.id)]) {
            const Node & d = g.node(done);
            release(plan.offset[static_cast<size_t>(done)],
                    align64(static_cast<size_t>(d.shape.numel()) * dtype_size(d.dtype)));
        }
    }
    return plan;
}

std::string describe(const MemoryPlan & plan) {
    auto kib = [](size_t b) { return static_cast<double>(b) / 1024.0; };
    return fmt::format(
        "memory plan: {} kernels, arena {:.1f} KiB (one buffer per intermediate would need {:.1f} KiB, "
        "{:.1f}x), "
        "parameters {:.1f} KiB\n",
        plan.schedule.size(), kib(plan.arena_bytes), kib(plan.unplanned_bytes),
        plan.arena_bytes ? static_cast<double>(plan.unplanned_bytes) / static_cast<double>(plan.arena_bytes)
                         : 1.0,
        kib(plan.param_bytes));
}

}  // namespace dl
