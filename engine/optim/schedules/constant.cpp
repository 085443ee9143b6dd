// constant: the optimizer's lr throughout (after any warm-up).
#include "spec/schedule_def.h"

namespace dl {
namespace {

double rate(const ScheduleSpec &, double base, double, double, double) { return base; }

DL_REGISTER_SCHEDULE({.type = "constant", .rate = rate});

}  // namespace
}  // namespace dl
