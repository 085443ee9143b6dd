// cosine: from lr down to min_lr along half a cosine over the epochs after the warm-up, as Keras' CosineDecay.
#include <algorithm>
#include <cmath>

#include "spec/schedule_def.h"

namespace dl {
namespace {

void read(MapReader & keys, ScheduleSpec & s, const SourceLoc &) {
    s.min_lr = keys.number("min_lr", 0.0, non_negative());
}

void render(YAML::Emitter & e, const ScheduleSpec & s) {
    e << YAML::Key << "min_lr" << YAML::Value << s.min_lr;
}

double rate(const ScheduleSpec & s, double base, double t, double span, double) {
    return s.min_lr + 0.5 * (base - s.min_lr) * (1.0 + std::cos(M_PI * std::min(1.0, t / span)));
}

DL_REGISTER_SCHEDULE({.type = "cosine", .read = read, .render = render, .rate = rate});

}  // namespace
}  // namespace dl
