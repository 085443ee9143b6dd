// What happens at the end of an epoch besides its metrics, by spec.train: reduce_on_plateau, early stopping
// (with restore_best's copy of the best weights), and the checkpoint policy's cadence (every_epochs,
// min_interval_s, keep_best). Their state is saved in checkpoints (Note [resume]).
//   Callbacks callbacks(spec, schedule, params, observer);
//   callbacks.after_epoch(st.epoch, values, st.callbacks);   // values: loss, metrics, val_*
//   if (callbacks.new_best(values, st.callbacks)) ...write best.h5...
//   if (callbacks.checkpoint_due(st.epoch, last)) ...write model.h5..., callbacks.checkpointed();
#pragma once

#include <chrono>
#include <cmath>
#include <map>
#include <string>

#include "optim/optimizer.h"
#include "spec/spec.h"
#include "train/trainer.h"

namespace dl {

struct CallbackState {
    double plateau_factor = 1.0, plateau_best = NAN;
    int64_t plateau_wait = 0;
    double early_best = NAN;
    int64_t early_wait = 0;
    int64_t best_epoch = 0;
    double keep_best_value = NAN;
    bool stopped_early = false;
    std::map<std::string, Tensor> best_params;  // early_stopping.restore_best: the weights of best_epoch
};

class Callbacks {
public:
    Callbacks(const Spec & spec, const LrSchedule & schedule, ParamStore & params, TrainObserver & observer)
        : spec_(spec), schedule_(schedule), params_(params), observer_(observer) {}

    // reduce_on_plateau and early stopping, once epoch `epoch` (1-based) has its `values`.
    void after_epoch(int64_t epoch, const std::map<std::string, double> & values, CallbackState & st);
    // checkpoint.keep_best: whether the epoch's `values` improve on best.h5's, which they then become.
    bool new_best(const std::map<std::string, double> & values, CallbackState & st) const;
    // Whether epoch `epoch` ends with a checkpoint (the run's `last` epoch ends with its final save).
    bool checkpoint_due(int64_t epoch, bool last) const;
    // A checkpoint was just written, or the run started: min_interval_s counts from now.
    void checkpointed() { last_checkpoint_ = std::chrono::steady_clock::now(); }
    // At the end of the run: early_stopping.restore_best puts the best epoch's weights back.
    void restore_best(const CallbackState & st);

private:
    const Spec & spec_;
    const LrSchedule & schedule_;
    ParamStore & params_;
    TrainObserver & observer_;
    std::chrono::steady_clock::time_point last_checkpoint_ = std::chrono::steady_clock::now();
};

}  // namespace dl
