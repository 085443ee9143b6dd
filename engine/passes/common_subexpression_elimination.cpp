// Merges nodes that compute the same thing: same op, same inputs, same attributes (e.g. the two halves of the
// gradient of d * d). Later uses are pointed at the first node; random ops are never merged.
#include <map>
#include <tuple>

#include "graph/op.h"
#include "passes/passes.h"

namespace dl {

void eliminate_common_subexpressions(Graph & g) {
    std::vector<int> replace(g.nodes().size());
    for (size_t i = 0; i < replace.size(); ++i) replace[i] = static_cast<int>(i);
    std::map<std::tuple<std::string, std::vector<int>, std::string>, int> seen;
    for (Node & n : g.nodes()) {
        if (n.dead) continue;
        for (int & in : n.inputs) in = replace[static_cast<size_t>(in)];
        if (n.def->leaf || n.def->random) continue;
        auto key = std::make_tuple(n.op, n.inputs, n.attrs.to_string());
        auto [it, fresh] = seen.emplace(std::move(key), n.id);
        if (!fresh) {
            replace[static_cast<size_t>(n.id)] = it->second;
            n.dead = true;
        }
    }
    for (auto & [name, id] : g.outputs_mut()) id = replace[static_cast<size_t>(id)];
}

}  // namespace dl
