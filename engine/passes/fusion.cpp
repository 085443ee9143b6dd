// Fuses matmul -> bias_add [-> relu|sigmoid|tanh] into one fused_dense node, and conv2d -> bias_add [-> relu]
// into one conv2d with bias and activation, when the intermediates have no other consumer. The last node of
// the chain is rewritten in place, so its id (which gradient rules refer to, e.g. relu's step(y)) and the
// execution order stay valid; the matmul (or conv2d) and bias_add become dead.
#include "graph/op.h"
#include "passes/passes.h"

namespace dl {

namespace {
void fuse_dense(Graph & g) {
    auto users = consumers(g);
    auto is_output = [&](int id) {
        for (auto & [name, out] : g.outputs())
            if (out == id) return true;
        return false;
    };
    auto sole_user = [&](int id, int user) {
        return users[static_cast<size_t>(id)].size() == 1 && users[static_cast<size_t>(id)][0] == user &&
               !is_output(id);
    };
    for (Node & n : g.nodes()) {
        if (n.dead) continue;
        const bool is_act = n.op == "relu" || n.op == "sigmoid" || n.op == "tanh";
        int bias_id = is_act ? n.inputs[0] : (n.op == "bias_add" ? n.id : -1);
        if (bias_id < 0) continue;
        const Node & bias = g.node(bias_id);
        if (bias.op != "bias_add" || (is_act && !sole_user(bias_id, n.id))) continue;
        if (!is_act && users[static_cast<size_t>(bias_id)].size() == 1) {
            const std::string & next = g.node(users[static_cast<size_t>(bias_id)][0]).op;
            if (next == "relu" || next == "sigmoid" || next == "tanh")
                continue;  // fused with its activation later
        }
        const Node & mm = g.node(bias.inputs[0]);
        const bool dense =
            mm.op == "matmul" && !mm.attrs.get_int("transpose_a") && !mm.attrs.get_int("transpose_b");
        const bool conv = mm.op == "conv2d" && mm.inputs.size() == 2 &&
                          mm.attrs.get_str("activation", "linear") == "linear" && (!is_act || n.op == "relu");
        if (!(dense || conv) || !sole_user(mm.id, bias_id)) continue;
        const int mm_id = mm.id;
        const std::vector<int> inputs = {mm.inputs[0], mm.inputs[1], bias.inputs[1]};
        if (conv) {
            Attrs attrs = mm.attrs;
            attrs.set("activation", std::string(is_act ? "relu" : "linear"));
            n.op = "conv2d";
            n.attrs = attrs;
        } else {
            n.attrs = Attrs{{"activation", std::string(is_act ? n.op : "none")}};
            n.op = "fused_dense";
        }
        n.def = find_op(n.op);
        n.inputs = inputs;
        g.infer_node(n);
        if (is_act) g.node(bias_id).dead = true;
        g.node(mm_id).dead = true;
        users = consumers(g);
    }
}

// mul(a, step(b)) -> where_positive(a, b): every relu-style backward step, one pass over memory instead of
// two.
void fuse_masks(Graph & g) {
    const auto users = consumers(g);
    for (Node & n : g.nodes()) {
        if (n.dead || n.op != "mul" || n.inputs.size() != 2) continue;
        for (int side = 0; side < 2; ++side) {
            const Node & mask = g.node(n.inputs[static_cast<size_t>(side)]);
            const Node & other = g.node(n.inputs[static_cast<size_t>(1 - side)]);
            if (mask.op != "step" || users[static_cast<size_t>(mask.id)].size() != 1) continue;
            if (mask.shape != n.shape || other.shape != n.shape || other.dtype != DType::f32) continue;
            bool is_output = false;
            for (auto & [name, out] : g.outputs()) is_output |= out == mask.id;
            if (is_output) continue;
            const int mask_id = mask.id;
            n.inputs = {other.id, mask.inputs[0]};
            n.op = "where_positive";
            n.def = find_op(n.op);
            g.infer_node(n);
            g.node(mask_id).dead = true;
            break;
        }
    }
}

// where_positive(max_pool2d_grad(x, dy), x) -> max_pool2d_grad(x, dy) {relu_input = 1}: the relu's backward
// step decided by the window's maximum, inside the pooling gradient (conv -> relu -> max-pool, the classic
// CNN).
void fuse_pool_masks(Graph & g) {
    const auto users = consumers(g);
    for (Node & n : g.nodes()) {
        if (n.dead || n.op != "where_positive") continue;
        const Node & pool = g.node(n.inputs[0]);
        if (pool.op != "max_pool2d_grad" || pool.inputs[0] != n.inputs[1] || pool.attrs.get_int("relu_input"))
            continue;
        if (users[static_cast<size_t>(pool.id)].size() != 1) continue;
        bool is_output = false;
        for (auto & [name, out] : g.outputs()) is_output |= out == pool.id;
        if (is_output) continue;
        const int pool_id = pool.id;
        Attrs attrs = pool.attrs;
        attrs.set("relu_input", int64_t{1});
        n.inputs = pool.inputs;
        n.attrs = attrs;
        n.op = "max_pool2d_grad";
        n.def = find_op(n.op);
        g.infer_node(n);
        g.node(pool_id).dead = true;
    }
}
}  // namespace

void fuse(Graph & g) {
    fuse_dense(g);
    fuse_masks(g);
    fuse_pool_masks(g);
}

}  // namespace dl
