// Optimizers and learning-rate schedules. An optimizer updates every parameter from its gradient in one fused
// loop per parameter (the shape a CUDA kernel over all parameters will take later), with its slots (momentum,
// moments) kept by name so they travel in checkpoints.
//   Optimizer opt(spec.train.optimizer, params);
//   opt.step(grads, lr);                      // grads: name -> gradient view, in the store's order
//   double lr = LrSchedule(spec.train, steps_per_epoch).at(step, plateau_factor);
#pragma once

#include <map>
#include <string>
#include <vector>

#include "exec/executor.h"
#include "spec/spec.h"

namespace dl {

class Optimizer {
public:
    Optimizer(const OptimizerSpec & spec, const ClipSpec & clip, ParamStore & params);

    // Applies one update; `grads` in the same order as params.names(). Returns the global gradient norm.
    double step(const std::vector<TensorView> & grads, double lr);

    int64_t iterations() const { return iterations_; }
    void set_iterations(int64_t n) { iterations_ = n; }
    // Slots by "<param>/<slot>", e.g. "dense/kernel/m".
    std::map<std::string, Tensor> & slots() { return slots_; }
    std::vector<std::string> slot_names() const;

private:
    OptimizerSpec spec_;
    ClipSpec clip_;
    ParamStore & params_;
    std::map<std::string, Tensor> slots_;
    int64_t iterations_ = 0;
};

class LrSchedule {
public:
    LrSchedule(const TrainSpec & train, int64_t steps_per_epoch)
        : train_(train), steps_per_epoch_(std::max<int64_t>(1, steps_per_epoch)) {}
    // The learning rate for optimizer step `step` (0-based); `plateau_factor` is reduce_on_plateau's product.
    double at(int64_t step, double plateau_factor) const;

private:
    const TrainSpec & train_;
    int64_t steps_per_epoch_;
};

}  // namespace dl
