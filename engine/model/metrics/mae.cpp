// mae: the mean absolute error over the target columns.
#include <cmath>

#include "spec/metric_def.h"

namespace dl {
namespace {

void regressed(double & sum, const float * prediction, const float * target, int64_t width) {
    for (int64_t j = 0; j < width; ++j)
        sum += std::fabs(static_cast<double>(prediction[j]) - target[j]) / static_cast<double>(width);
}

DL_REGISTER_METRIC({.name = "mae", .aliases = {"mean_absolute_error"}, .regressed = regressed});

}  // namespace
}  // namespace dl
