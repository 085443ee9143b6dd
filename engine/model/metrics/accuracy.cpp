// accuracy: the share of samples whose most probable class is the label; for target columns, the share of
// values on the right side of 0.5 (Keras' binary accuracy).
#include <algorithm>

#include "spec/metric_def.h"

namespace dl {
namespace {

void classified(double & sum, const float * probabilities, int64_t classes, int64_t label) {
    const int64_t arg = std::max_element(probabilities, probabilities + classes) - probabilities;
    sum += arg == label ? 1.0 : 0.0;
}

void regressed(double & sum, const float * prediction, const float * target, int64_t width) {
    for (int64_t j = 0; j < width; ++j)
        sum += ((prediction[j] > 0.5f) == (target[j] > 0.5f)) ? 1.0 / static_cast<double>(width) : 0.0;
}

DL_REGISTER_METRIC({.name = "accuracy",
                    .aliases = {"acc"},
                    .higher_is_better = true,
                    .classified = classified,
                    .regressed = regressed});

}  // namespace
}  // namespace dl
