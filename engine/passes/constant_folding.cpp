// Evaluates nodes whose inputs are all constants once, at build time, and turns them into constants
// (e.g. the seed gradient of a mean loss broadcast and scaled). Random ops are never folded.
#include "graph/op.h"
#include "passes/passes.h"

namespace dl {

void fold_constants(Graph & g) {
    ThreadPool pool(1);
    for (Node & n : g.nodes()) {
        if (n.dead || n.def->leaf || n.def->random || n.def->cpu == nullptr || n.inputs.empty()) continue;
        bool all_const = true;
        for (int in : n.inputs) all_const = all_const && g.node(in).op == "const";
        if (!all_const) continue;
        auto value = std::make_shared<Tensor>(n.shape, n.dtype);
        KernelCtx k{.node = n, .output = value->view(), .pool = pool};
        for (int in : n.inputs) k.inputs.push_back(g.node(in).value->view());
        Tensor workspace;
        if (n.def->workspace) {
            ShapeCtx shapes{g, n};
            k.workspace_bytes = n.def->workspace(shapes, pool.size());
            workspace = Tensor(Shape{static_cast<int64_t>((k.workspace_bytes + 3) / 4)});
            k.workspace = static_cast<std::byte *>(workspace.view().data);
        }
        n.def->cpu(k);
        n.op = "const";
        n.def = find_op("const");
        n.inputs.clear();
        n.attrs = {};
        n.value = std::move(value);
    }
}

}  // namespace dl
