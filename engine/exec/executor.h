// Runs a planned graph: one arena for all intermediates (the memory plan), parameters from a ParamStore,
// inputs fed by writing into their buffers. Kernel contexts are built once, so a run allocates nothing.
//   Executor ex(graph, params, pool, backend);        // graph after run_passes()
//   copy(batch, ex.input("x"));  ex.run(seed, step);  float loss = ex.output("loss").f32()[0];
// On a device backend (Note [device memory]) the arena, parameters and constants live on the device; input()
// and output() are host buffers that run() uploads and downloads, and device_output() is the output in place.
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
    ParamStore() = default;
    // Copies share nothing on a device: only a store without device copies is copied (serving lanes).
    ParamStore(const ParamStore & o) : tensors_(o.tensors_), order_(o.order_), trainable_(o.trainable_) {
        DL_ASSERT(o.device_ == nullptr);
    }
    ParamStore(ParamStore &&) = default;
    ParamStore & operator=(ParamStore &&) = default;
    ~ParamStore();
    // Non-trainable parameters (batch_norm's moving statistics) get no gradient; the training graph computes
    // their next value as an output "update/<name>" (ModelSession::commit_updates copies it in after each
    // step).
    Tensor & add(const std::string & name, Shape shape, bool trainable = true);
    Tensor & at(const std::string & name);
    const Tensor & at(const std::string & name) const;
    bool has(const std::string & name) const { return tensors_.count(name) != 0; }
    const std::vector<std::string> & names() const { return order_; }  // creation order
    const std::vector<std::string> & trainable_names() const { return trainable_; }
    bool trainable(const std::string & name) const;
    size_t total_values() const;

    // Note [device memory]: on a device backend each parameter has a device copy, made (and uploaded) the
    // first time a graph asks for it; training updates it there. The host tensors are brought up to date by
    // download_from_device() before they are read (checkpoints), and copied back by upload_to_device() after
    // they are written (resuming, restoring the best weights).
    void * device_data(const std::string & name, Backend & backend);
    bool on_device() const { return device_ != nullptr; }
    void download_from_device();
    void upload_to_device();

private:
    std::map<std::string, Tensor> tensors_;
    std::vector<std::string> order_, trainable_;
    Backend * device_ = nullptr;
    std::map<std::string, void *> device_data_;
};

class Executor {
public:
    Executor(Graph graph, ParamStore & params, ThreadPool & pool, Backend & backend);
    Executor(const Executor &) = delete;

    Executor(Executor &&) = delete;
    ~Executor();

    TensorView input(const std::string & name);
    TensorView output(const std::string & name) const;
    void run(uint64_t seed, uint64_t step);

    // run() in parts, for a caller that issues more work in the same step (the training step's optimizer
    // update on a device): upload the inputs, issue the kernels (as Backend::run_step(step_key(), ...)), then
    // download the host-read outputs and wait.
    // Note [double buffers]: on a device backend the inputs have two sets of buffers, host and device.
    // upload_inputs() sends the set input() returned ahead of the next step (Backend::upload_ahead, which the
    // step waits for) and hands out the other set, so the batch after can be gathered and sent while this
    // step runs; launch() reads the set sent last.
    void upload_inputs();
    const void * step_key();  // the recording of launch() for the set sent last
    void launch(uint64_t seed, uint64_t step);
    // `wait` false: the copies are only issued; the caller synchronises (once, with its own copies).
    void download_outputs(bool wait = true);
    // An output where the kernels wrote it: device memory on a device backend.
    TensorView device_output(const std::string & name) const;
    Backend & backend() { return backend_; }
    // The same, adding each kernel's wall time to seconds[i] (i = its index in plan().schedule): `dlctl
    // bench`.
    void run_timed(uint64_t seed, uint64_t step, std::vector<double> & seconds);

    const Graph & graph() const { return graph_; }
    const MemoryPlan & plan() const { return plan_; }

private:
    void * own(size_t bytes);  // backend memory freed with the executor
    TensorView own_host(const TensorView & like);

    Graph graph_;
    MemoryPlan plan_;
    Backend & backend_;
    const bool host_;  // the backend computes in host memory: no copies at the edges
    Tensor arena_;
    Tensor workspace_;  // the largest OpDef::workspace of the schedule: kernels run one at a time
    std::map<std::string, Tensor> inputs_;  // host backends: the buffers the caller fills, which kernels read
    // Device backends: page-locked host staging the caller fills, and the outputs the host reads after run().
    std::map<std::string, TensorView> staging_inputs_[2], host_outputs_;
    std::vector<std::pair<TensorView, TensorView>> uploads_[2], downloads_;  // (host, device) pairs
    std::vector<std::pair<void *, void *>> alternate_;  // an input's device buffer in set 0 and in set 1
    std::vector<KernelCtx> alternate_kernels_;          // kernels_ reading set 1
    int fill_ = 0, staged_ = 0;                         // the set input() hands out; the set sent last
    std::vector<KernelCtx> & staged_kernels();
    std::vector<void *> owned_, owned_host_;
    std::vector<TensorView> views_;  // per node id
    std::vector<KernelCtx> kernels_;
};

}  // namespace dl
