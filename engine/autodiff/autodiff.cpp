#include "autodiff/autodiff.h"

#include "graph/op.h"

namespace dl {

std::map<int, int> append_backward(Graph & g, Value loss, const std::vector<int> & wrt) {
    const int forward_end = loss.id + 1;
    // needs[n]: n depends on a node we differentiate with respect to.
    std::vector<bool> needs(static_cast<size_t>(forward_end), false);
    for (int id : wrt) needs[static_cast<size_t>(id)] = true;
    for (int id = 0; id < forward_end; ++id) {
        for (int in : g.node(id).inputs)
            if (needs[static_cast<size_t>(in)]) needs[static_cast<size_t>(id)] = true;
    }

    std::vector<Value> grad(static_cast<size_t>(forward_end));
    grad[static_cast<size_t>(loss.id)] = g.constant(1.0f);
    if (loss.shape().rank() != 0) {
        grad[static_cast<size_t>(loss.id)] =
            g.op("broadcast_to", {grad[static_cast<size_t>(loss.id)]}, {{"shape", loss.shape().dims}});
    }

    for (int id = loss.id; id >= 0; --id) {
        const Value dout = grad[static_cast<size_t>(id)];
        const OpDef * def = g.node(id).def;
        if (!dout.valid() || !needs[static_cast<size_t>(id)] || def->grad == nullptr) continue;
        g.set_location(g.node(id).loc);
        GradCtx ctx{g, id, dout};
        const std::vector<Value> in_grads = def->grad(ctx);
        const std::vector<int> inputs = g.node(id).inputs;
        DL_ASSERT(in_grads.size() == inputs.size());
        for (size_t i = 0; i < inputs.size(); ++i) {
            const int in = inputs[i];
            Value d = in_grads[i];
            if (!d.valid() || !needs[static_cast<size_t>(in)]) continue;
            const Shape want = g.node(in).shape;
            if (d.shape() != want) d = g.op("sum_to", {d}, {{"shape", want.dims}});  // undo broadcasting
            Value & acc = grad[static_cast<size_t>(in)];
            acc = acc.valid() ? acc + d : d;
        }
    }

    std::map<int, int> out;
    for (int id : wrt) {
        Value d = grad[static_cast<size_t>(id)];
        if (!d.valid()) {  // a parameter that does not reach the loss gets a zero gradient
            Tensor zero(g.node(id).shape);
            d = g.constant(std::move(zero));
        }
        out[id] = d.id;
        g.mark_output("grad/" + g.node(id).name, d);
    }
    return out;
}

}  // namespace dl
