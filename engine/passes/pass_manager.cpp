#include <fmt/format.h>

#include "passes/passes.h"

namespace dl {

const std::vector<Pass> & standard_passes() {
    static const std::vector<Pass> passes = {
        {"shape_inference", infer_shapes},
        {"constant_folding", fold_constants},
        {"common_subexpression_elimination", eliminate_common_subexpressions},
        {"dead_node_elimination", eliminate_dead_nodes},
        {"fusion", fuse},
        {"dead_node_elimination", eliminate_dead_nodes},
    };
    return passes;
}

std::vector<std::string> pass_names() {
    std::vector<std::string> names = {"none"};
    for (const Pass & p : standard_passes())
        if (std::find(names.begin(), names.end(), p.name) == names.end()) names.push_back(p.name);
    names.push_back("memory_plan");
    return names;
}

void run_passes(Graph & g, const std::string & stop_after) {
    if (stop_after == "none") return;
    for (const Pass & p : standard_passes()) {
        p.run(g);
        if (stop_after == p.name) return;
    }
}

std::vector<std::vector<int>> consumers(const Graph & g) {
    std::vector<std::vector<int>> out(g.nodes().size());
    for (const Node & n : g.nodes()) {
        if (n.dead) continue;
        for (int in : n.inputs) out[static_cast<size_t>(in)].push_back(n.id);
    }
    return out;
}

}  // namespace dl
