// mae: the mean of absolute errors over every target column, as Keras' MeanAbsoluteError.
#include "model/layer_build.h"
#include "spec/loss_def.h"

namespace dl {
namespace {

void build(LossBuild & b) { b.loss = b.g.op("mae", {b.prediction, b.y}); }

DL_REGISTER_LOSS({.name = "mae", .aliases = {"mean_absolute_error"}, .build = build});

}  // namespace
}  // namespace dl
