// Marks every node that no graph output depends on as dead.
#include "passes/passes.h"

namespace dl {

void eliminate_dead_nodes(Graph & g) {
    std::vector<bool> live(g.nodes().size(), false);
    for (auto & [name, id] : g.outputs()) live[static_cast<size_t>(id)] = true;
    for (int id = static_cast<int>(g.nodes().size()) - 1; id >= 0; --id) {
        if (!live[static_cast<size_t>(id)]) continue;
        for (int in : g.node(id).inputs) live[static_cast<size_t>(in)] = true;
    }
    for (Node & n : g.nodes())
        if (!live[static_cast<size_t>(n.id)] && !(n.op == "input" || n.op == "param")) n.dead = true;
}

}  // namespace dl
