// step: lr * gamma^floor(epoch / step_epochs), as Keras' ExponentialDecay with staircase=True.
#include <cmath>

#include "spec/schedule_def.h"

namespace dl {
namespace {

void read(MapReader & keys, ScheduleSpec & s, const SourceLoc &) {
    s.step_epochs = keys.number("step_epochs", 10.0, positive_finite());
    s.gamma = keys.number("gamma", 0.1, positive_finite());
}

void render(YAML::Emitter & e, const ScheduleSpec & s) {
    e << YAML::Key << "step_epochs" << YAML::Value << s.step_epochs << YAML::Key << "gamma" << YAML::Value
      << s.gamma;
}

double rate(const ScheduleSpec & s, double base, double t, double, double) {
    return base * std::pow(s.gamma, std::floor(t / s.step_epochs));
}

DL_REGISTER_SCHEDULE({.type = "step", .read = read, .render = render, .rate = rate});

}  // namespace
}  // namespace dl
