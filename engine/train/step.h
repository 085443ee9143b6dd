// One training step on the batch in a training executor's inputs: the forward and backward pass, the
// moving-statistics updates and the optimizer's update, on the host or issued as one device step (Note
// [device step]). What `dlctl train` runs, and `dlctl bench` times.
//   TrainStep step(session, opt, replicas, spec.seed);
//   if (step.device_step()) ex.upload_inputs();   // the device step reads inputs already uploaded
//   double norm = step.run(ex, s, lr, rows, rows);  // the gradients' global norm
#pragma once

#include <functional>
#include <vector>

#include "exec/executor.h"
#include "model/session.h"
#include "optim/optimizer.h"
#include "train/replicas.h"

namespace dl {

// What a timed step adds to (`dlctl bench`): each kernel's seconds in schedule order (Executor::run_timed),
// and the optimizer update's.
struct StepTiming {
    std::vector<double> per_kernel;
    double optimizer_s = 0;
};

// Where the caller's work goes in the step's sequence.
struct StepHooks {
    // A device step only: runs once the step is issued, while it computes (the next batch goes up).
    std::function<void()> while_running;
    // Once the outputs (the loss, the predictions) are on the host, before a host optimizer's update.
    std::function<void()> on_outputs;
};

class TrainStep {
public:
    TrainStep(ModelSession & session, Optimizer & opt, Replicas & replicas, uint64_t seed)
        : session_(session), opt_(opt), replicas_(replicas), seed_(seed) {}

    // Whether run() issues the recorded device step, which reads the inputs already uploaded
    // (Executor::upload_inputs); a timed step runs kernel by kernel instead.
    bool device_step(const StepTiming * timing = nullptr) const { return opt_.on_device() && !timing; }

    // Step `step` at learning rate `lr` on this replica's `local_rows` of a global batch of `global_rows`;
    // returns the gradients' global norm.
    double run(Executor & ex, uint64_t step, double lr, int64_t local_rows, int64_t global_rows,
               const StepHooks & hooks = {}, StepTiming * timing = nullptr);

private:
    ModelSession & session_;
    Optimizer & opt_;
    Replicas & replicas_;
    uint64_t seed_;
};

}  // namespace dl
