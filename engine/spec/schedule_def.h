// A learning-rate schedule lives in one file: engine/optim/schedules/<type>.cpp holds its keys (read and
// rendered), the rate it gives, and whether it follows a monitored quantity, and registers itself. The warm-up
// (warmup_epochs, linear from 0) is every schedule's and is applied in front of it (optim/optimizer.cpp).
//   DL_REGISTER_SCHEDULE({.type = "exponential", .read = read, .render = render, .rate = rate});
#pragma once

#include <string>
#include <vector>

#include "graph/op.h"  // DL_CONCAT
#include "spec/registry.h"
#include "spec/spec.h"

namespace dl {

struct ScheduleDef {
    const char * type = nullptr;
    std::vector<std::string> aliases;
    // Its own keys of train.schedule (after type and warmup_epochs); `where` locates train.schedule.
    void (*read)(MapReader & keys, ScheduleSpec & s, const SourceLoc & where) = nullptr;
    // The same keys, in the order read.
    void (*render)(YAML::Emitter & e, const ScheduleSpec & s) = nullptr;
    // The rate `t` epochs (fractional) after the warm-up of a schedule spanning `span` epochs, from the base
    // rate; `plateau_factor` is the product of a monitored schedule's reductions so far.
    double (*rate)(const ScheduleSpec & s, double base, double t, double span,
                   double plateau_factor) = nullptr;
    // The rate follows `monitor` (reduce_on_plateau): the spec checks the monitor, and the trainer's plateau
    // callback (train/callbacks.cpp) multiplies plateau_factor by `factor` after `patience` epochs without
    // improvement.
    bool monitored = false;
    const char * file = "";
};

bool register_schedule(ScheduleDef def, const char * file);
const ScheduleDef * find_schedule(const std::string & type);
std::vector<const ScheduleDef *> all_schedules();
std::vector<std::string> schedule_types();

}  // namespace dl

#define DL_REGISTER_SCHEDULE(...)                                    \
    static const bool DL_CONCAT(dl_registered_schedule_, __LINE__) = \
        ::dl::register_schedule(::dl::ScheduleDef __VA_ARGS__, __FILE__)
