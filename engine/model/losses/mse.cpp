// mse: the mean of squared errors over every target column, as Keras' MeanSquaredError.
#include "model/layer_build.h"
#include "spec/loss_def.h"

namespace dl {
namespace {

void build(LossBuild & b) { b.loss = b.g.op("mse", {b.prediction, b.y}); }

DL_REGISTER_LOSS({.name = "mse", .aliases = {"mean_squared_error"}, .build = build});

}  // namespace
}  // namespace dl
