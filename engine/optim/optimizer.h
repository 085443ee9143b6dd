// Optimizers and learning-rate schedules. An optimizer updates every parameter from its gradient in one fused
// loop per parameter (the shape a CUDA kernel over all parameters will take later), with its slots (momentum,
// moments) kept by name so they travel in checkpoints.
//   Optimizer opt(spec.train.optimizer, params);
//   opt.step(grads, lr);                      // grads: name -> gradient view, in the store's order
// On a device backend the slots live on the device too and the update is the backend's fused kernel over all
// parameters, issued inside the training step (Backend::run_step) with lr and t from its StepValues:
//   backend.run_step(&ex, {.seed = s, .step = i, .lr = lr, .t = opt.next_iteration()}, [&] { ...;
//   opt.issue(grads); }); double norm = opt.finish_step(); double lr = LrSchedule(spec.train,
//   steps_per_epoch).at(step, plateau_factor);
#pragma once

#include <map>
#include <string>
#include <vector>

#include "exec/executor.h"
#include "spec/spec.h"

namespace dl {

class Optimizer {
public:
    // With a pool, the update runs over fixed chunks of parameters on its threads (bit-identical at any
    // count).
    Optimizer(const OptimizerSpec & spec, const ClipSpec & clip, ParamStore & params,
              ThreadPool * pool = nullptr, Backend * device = nullptr);
    ~Optimizer();
    Optimizer(const Optimizer &) = delete;

    // Applies one update; `grads` in the same order as params.trainable_names(). Returns the global gradient
    // norm.
    double step(const std::vector<TensorView> & grads, double lr);

    int64_t iterations() const { return iterations_; }
    void set_iterations(int64_t n) { iterations_ = n; }
    // Slots by "<param>/<slot>", e.g. "dense/kernel/m". On a device, current after download_slots().
    std::map<std::string, Tensor> & slots() { return slots_; }

    // Device backends (see above). issue() only enqueues; finish_step() waits for the norm, counts the
    // iteration when it is finite (a non-finite one updated nothing, as on the host) and returns it.
    bool on_device() const { return device_ != nullptr; }
    int64_t next_iteration() const { return iterations_ + 1; }
    void issue(const std::vector<TensorView> & grads);
    double finish_step();
    void download_slots();
    void upload_slots();

private:
    struct Chunk {
        size_t param;
        int64_t begin, end;
    };
    struct ParamSlots {  // raw pointers of one parameter's slots, looked up once
        float * p = nullptr;
        float *s0 = nullptr, *s1 = nullptr;
    };
    void update(const Chunk & c, const float * grad, float clip_scale, double lr, double t);

    OptimizerSpec spec_;
    ClipSpec clip_;
    UpdateRule rule_;
    void (*update_)(const UpdateRule &, const OptimizerTensor &, int64_t, int64_t, float, double, double);
    ParamStore & params_;
    ThreadPool * pool_;
    std::map<std::string, Tensor> slots_;
    std::vector<ParamSlots> slot_ptrs_;
    std::vector<Chunk> chunks_;
    std::vector<double> partial_sumsq_;
    int64_t iterations_ = 0;
    Backend * device_ = nullptr;
    std::map<std::string, void *> device_slots_;
    std::vector<OptimizerTensor> device_tensors_;
    float * device_norm_ = nullptr;
};

// The spec's optimizer and clipping as the backends take them (backend/backend.h).
UpdateRule update_rule(const OptimizerSpec & spec, const ClipSpec & clip);

// Optimizer::step's arithmetic on elements [begin, end) of one parameter held as host pointers (grad and
// slots as the optimizer's type needs them), after the global norm gave `clip_scale`; `t` is the iteration
// counted from 1. A host backend's fused update (Backend::optimizer_update) uses it too.
void update_range(const UpdateRule & rule, const OptimizerTensor & x, int64_t begin, int64_t end,
                  float clip_scale, double lr, double t);

class LrSchedule {
public:
    LrSchedule(const TrainSpec & train, int64_t steps_per_epoch)
        : train_(train), steps_per_epoch_(std::max<int64_t>(1, steps_per_epoch)) {}
    // The learning rate for optimizer step `step` (0-based); `plateau_factor` is reduce_on_plateau's product.
    double at(int64_t step, double plateau_factor) const;
    // A monitored schedule's (reduce_on_plateau's) rate after its reductions multiplied it by `plateau_factor`.
    double plateau_lr(double plateau_factor) const;

private:
    const TrainSpec & train_;
    int64_t steps_per_epoch_;
};

}  // namespace dl
