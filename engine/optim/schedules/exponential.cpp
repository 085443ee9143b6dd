// exponential: lr * gamma^epoch (fractional epochs), as Keras' ExponentialDecay.
#include <cmath>

#include "spec/schedule_def.h"

namespace dl {
namespace {

void read(MapReader & keys, ScheduleSpec & s, const SourceLoc &) {
    s.gamma = keys.number("gamma", 0.96, positive_finite());
}

void render(YAML::Emitter & e, const ScheduleSpec & s) {
    e << YAML::Key << "gamma" << YAML::Value << s.gamma;
}

double rate(const ScheduleSpec & s, double base, double t, double, double) {
    return base * std::pow(s.gamma, t);
}

DL_REGISTER_SCHEDULE({.type = "exponential", .read = read, .render = render, .rate = rate});

}  // namespace
}  // namespace dl
