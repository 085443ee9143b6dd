// Re-checks every live node's shape against its inputs after rewrites; a mismatch is a bug in a pass.
#include "graph/op.h"
#include "passes/passes.h"

namespace dl {

void infer_shapes(Graph & g) {
    for (Node & n : g.nodes()) {
        if (n.dead || n.def->leaf) continue;
        const Shape before = n.shape;
        g.infer_node(n);
        DL_ASSERT(n.shape == before);
    }
}

}  // namespace dl
