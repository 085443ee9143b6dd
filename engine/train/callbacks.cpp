#include "train/callbacks.h"

#include <fmt/format.h>

#include "model/trained_model.h"
#include "spec/metric_def.h"
#include "spec/schedule_def.h"

namespace dl {

namespace {

bool improved(double value, double best, double min_delta, bool higher) {
    if (std::isnan(best)) return true;
    return higher ? value > best + min_delta : value < best - min_delta;
}

double monitored(const std::map<std::string, double> & values, const std::string & m) {
    return values.count(m) ? values.at(m) : NAN;
}

}  // namespace

bool higher_is_better(const std::string & monitor) {
    // A monitor is loss, a metric, or either with a val_ (or test_) prefix.
    for (const char * prefix : {"val_", "test_"})
        if (monitor.rfind(prefix, 0) == 0)
            return higher_is_better(monitor.substr(std::string(prefix).size()));
    const MetricDef * def = find_metric(monitor);
    return def != nullptr && def->higher_is_better;
}

void Callbacks::after_epoch(int64_t epoch, const std::map<std::string, double> & values, CallbackState & st) {
    if (const ScheduleDef * schedule = find_schedule(spec_.train.schedule.type);
        schedule && schedule->monitored) {
        const ScheduleSpec & sc = spec_.train.schedule;
        const double v = monitored(values, sc.monitor);
        if (improved(v, st.plateau_best, sc.min_delta, higher_is_better(sc.monitor))) {
            st.plateau_best = v;
            st.plateau_wait = 0;
        } else if (++st.plateau_wait >= sc.patience) {
            st.plateau_factor *= sc.factor;
            st.plateau_wait = 0;
            observer_.on_note(fmt::format("reduce_on_plateau: learning rate now {:.3g}",
                                          schedule_.plateau_lr(st.plateau_factor)));
        }
    }
    if (spec_.train.early_stopping.enabled) {
        const EarlyStoppingSpec & es = spec_.train.early_stopping;
        const double v = monitored(values, es.monitor);
        if (improved(v, st.early_best, es.min_delta, higher_is_better(es.monitor))) {
            st.early_best = v;
            st.early_wait = 0;
            st.best_epoch = epoch;
            if (es.restore_best) params_.download_from_device();
            if (es.restore_best)
                for (const std::string & name : params_.names())
                    st.best_params[name] = [&] {
                        Tensor t(params_.at(name).shape());
                        std::copy(params_.at(name).f32(), params_.at(name).f32() + t.numel(), t.f32());
                        return t;
                    }();
        } else if (++st.early_wait >= es.patience) {
            st.stopped_early = true;
            observer_.on_note(fmt::format(
                "early stopping at epoch {}: {} has not improved for {} epochs (best {:.6g} at epoch {})",
                epoch, es.monitor, es.patience, st.early_best, st.best_epoch));
        }
    }
}

bool Callbacks::new_best(const std::map<std::string, double> & values, CallbackState & st) const {
    const CheckpointSpec & cp = spec_.train.checkpoint;
    if (!cp.keep_best) return false;
    const double v = monitored(values, cp.monitor);
    if (!improved(v, st.keep_best_value, 0.0, higher_is_better(cp.monitor))) return false;
    st.keep_best_value = v;
    return true;
}

bool Callbacks::checkpoint_due(int64_t epoch, bool last) const {
    const CheckpointSpec & cp = spec_.train.checkpoint;
    return !last && epoch % cp.every_epochs == 0 &&
           std::chrono::duration<double>(std::chrono::steady_clock::now() - last_checkpoint_).count() >=
               cp.min_interval_s;
}

void Callbacks::restore_best(const CallbackState & st) {
    if (spec_.train.early_stopping.restore_best && !st.best_params.empty()) {
        for (auto & [name, t] : st.best_params) copy_checkpoint_tensor(params_.at(name), t, name);
        params_.upload_to_device();
        observer_.on_note(fmt::format("restored the best weights (epoch {})", st.best_epoch));
    }
}

}  // namespace dl
