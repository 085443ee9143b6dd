// reduce_on_plateau: lr times factor each time `monitor` has not improved by min_delta for `patience` epochs,
// never below min_lr, as Keras' ReduceLROnPlateau (the trainer's plateau callback counts the epochs).
#include <algorithm>

#include "spec/schedule_def.h"

namespace dl {
namespace {

void read(MapReader & keys, ScheduleSpec & s, const SourceLoc & where) {
    s.monitor_loc = keys.has("monitor") ? keys.value_loc("monitor") : where;
    s.monitor = keys.string("monitor", "val_loss");
    s.factor = keys.number("factor", 0.1, in_unit_interval_open_right());
    s.patience = keys.integer("patience", 10, in_range(0, kMaxEpochs));
    s.min_delta = keys.number("min_delta", 1e-4, non_negative());
    s.min_lr = keys.number("min_lr", 0.0, non_negative());
}

void render(YAML::Emitter & e, const ScheduleSpec & s) {
    e << YAML::Key << "monitor" << YAML::Value << s.monitor << YAML::Key << "factor" << YAML::Value
      << s.factor << YAML::Key << "patience" << YAML::Value << s.patience << YAML::Key << "min_delta"
      << YAML::Value << s.min_delta << YAML::Key << "min_lr" << YAML::Value << s.min_lr;
}

double rate(const ScheduleSpec & s, double base, double, double, double plateau_factor) {
    return std::max(s.min_lr, base * plateau_factor);
}

DL_REGISTER_SCHEDULE(
    {.type = "reduce_on_plateau", .read = read, .render = render, .rate = rate, .monitored = true});

}  // namespace
}  // namespace dl
