#include "train/step.h"

#include <chrono>

namespace dl {

double TrainStep::run(Executor & ex, uint64_t step, double lr, int64_t local_rows, int64_t global_rows,
                      const StepHooks & hooks, StepTiming * timing) {
    Backend & backend = session_.backend();
    const StepValues values{.seed = seed_, .step = step, .lr = lr, .t = opt_.next_iteration()};
    if (device_step(timing)) {
        // Note [device step]: the forward and backward kernels, the moving-statistics updates and the
        // optimizer's fused update go out as one step, which the backend records once and replays.
        backend.run_step(ex.step_key(), values, [&] {
            ex.launch(seed_, step);
            session_.commit_updates(ex);
            std::vector<TensorView> & grads = session_.gradients(ex);
            replicas_.reduce_gradients(grads, local_rows, global_rows);
            opt_.issue(grads);
        });
        ex.download_outputs(/*wait=*/false);
        if (hooks.while_running) hooks.while_running();
        const double norm = opt_.finish_step();  // waits for the loss and predictions too
        if (hooks.on_outputs) hooks.on_outputs();
        return norm;
    }
    if (timing)
        ex.run_timed(seed_, step, timing->per_kernel);
    else
        ex.run(seed_, step);
    if (hooks.on_outputs) hooks.on_outputs();
    session_.commit_updates(ex);
    std::vector<TensorView> & grads = session_.gradients(ex);
    replicas_.reduce_gradients(grads, local_rows, global_rows);
    const auto t0 = std::chrono::steady_clock::now();
    double norm = 0;
    if (opt_.on_device()) {  // timed on a device: the optimizer's update as a step of its own
        backend.run_step(&opt_, values, [&] { opt_.issue(grads); });
        norm = opt_.finish_step();
    } else {
        norm = opt_.step(grads, lr);
    }
    if (timing)
        timing->optimizer_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return norm;
}

}  // namespace dl
