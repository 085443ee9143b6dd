// mse: the mean squared error over the target columns.
#include "spec/metric_def.h"

namespace dl {
namespace {

void regressed(double & sum, const float * prediction, const float * target, int64_t width) {
    for (int64_t j = 0; j < width; ++j) {
        const double d = static_cast<double>(prediction[j]) - target[j];
        sum += d * d / static_cast<double>(width);
    }
}

DL_REGISTER_METRIC({.name = "mse", .aliases = {"mean_squared_error"}, .regressed = regressed});

}  // namespace
}  // namespace dl
