// huber: squared below `delta`, linear above it, as Keras' Huber.
#include "model/layer_build.h"
#include "spec/loss_def.h"

namespace dl {
namespace {

void build(LossBuild & b) { b.loss = b.g.op("huber", {b.prediction, b.y}, {{"delta", b.spec.delta}}); }

DL_REGISTER_LOSS(
    {.name = "huber",
     .aliases = {"huber_loss"},
     .keys = {{.name = "delta", .number = &LossSpec::delta, .fallback = 1.0, .check = positive_finite}},
     .build = build});

}  // namespace
}  // namespace dl
