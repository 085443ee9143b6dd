// Fuses matmul -> bias_add [-> relu|sigmoid|tanh] into one fused_dense node when the intermediates have no other
// consumer. The last node of the chain is rewritten in place, so its id (which gradient rules refer to, e.g.
// relu's step(y)) and the execution order stay valid; the matmul and bias_add become dead.
#include "ops/op.h"
#include "passes/passes.h"

namespace dl {

void fuse_dense(Graph & g) {
    auto users = consumers(g);
    auto is_output = [&](int id) {
        for (auto & [name, out] : g.outputs())
            if (out == id) return true;
        return false;
    };
    auto sole_user = [&](int id, int user) {
        return users[static_cast<size_t>(id)].size() == 1 && users[static_cast<size_t>(id)][0] == user && !is_output(id);
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
            if (next == "relu" || next == "sigmoid" || next == "tanh") continue;  // fused with its activation later
        }
        const Node & mm = g.node(bias.inputs[0]);
        if (mm.op != "matmul" || mm.attrs.get_int("transpose_a") || mm.attrs.get_int("transpose_b")) continue;
        if (!sole_user(mm.id, bias_id)) continue;
        const int mm_id = mm.id;
        const std::vector<int> inputs = {mm.inputs[0], mm.inputs[1], bias.inputs[1]};
        const std::string act = is_act ? n.op : "none";
        n.op = "fused_dense";
        n.def = find_op("fused_dense");
        n.inputs = inputs;
        n.attrs = Attrs{{"activation", act}};
        g.infer_node(n);
        if (is_act) g.node(bias_id).dead = true;
        g.node(mm_id).dead = true;
        users = consumers(g);
    }
}

}  // namespace dl
