// Runs a planned graph: one arena for all intermediates (the memory plan), parameters from a ParamStore, inputs
// fed by writing into their buffers. Kernel contexts are built once, so a run allocates nothing.
//   Executor ex(graph, params, pool, backend);        // graph after run_passes()
//   copy(batch, ex.input("x"));  ex.run(seed, step);  float loss = ex.output("loss").f32()[0];
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "passes/passes.h"

namespace dl {

// Parameters by name ("dense_1/kernel"), owned here and shared by the training and inference graphs.
class ParamStore {
public:
    // Non-trainable parameters (batch_norm's moving statistics) get no gradient; the training graph computes their
    // next value as an output "update/<name>" (ModelSession::commit_updates copies it in after each step).
    Tensor & add(const std::string & name, Shape shape, bool trainable = true);
    Tensor & at(const std::string & name);
    const Tensor & at(const std::string & name) const;
    bool has(const std::string & name) const { return tensors_.count(name) != 0; }
    const std::vector<std::string> & names() const { return order_; }  // creation order
    const std::vector<std::string> & trainable_names() const { return trainable_; }
    bool trainable(const std::string & name) const;
    size_t total_values() const;

private:
    std::map<std::string, Tensor> tensors_;
    std::vector<std::string> order_, trainable_;
};

class Executor {
public:
    Executor(Graph graph, ParamStore & params, ThreadPool & pool, Backend & backend);
    Executor(const Executor &) = delete;

    TensorView input(const std::string & name);
    TensorView output(const std::string & name) const;
    void run(uint64_t seed, uint64_t step);
    // The same, adding each kernel's wall time to seconds[i] (i = its index in plan().schedule): `dlctl bench`.
    void run_timed(uint64_t seed, uint64_t step, std::vector<double> & seconds);

    const Graph & graph() const { return graph_; }
    const MemoryPlan & plan() const { return plan_; }

private:
    Graph graph_;
    MemoryPlan plan_;
    Tensor arena_;
    Tensor workspace_;  // the largest OpDef::workspace of the schedule: kernels run one at a time
    std::map<std::string, Tensor> inputs_;
    std::vector<TensorView> views_;  // per node id
    std::vector<KernelCtx> kernels_;
    Backend & backend_;
};

}  // namespace dl
