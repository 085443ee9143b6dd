// binary_crossentropy: per target column, against 0/1 targets; fused with a sigmoid output for stability, as
// Keras does.
#include "model/layer_build.h"
#include "spec/loss_def.h"

namespace dl {
namespace {

void build(LossBuild & b) {
    if (!b.spec.from_logits && b.last_activation == "sigmoid" && b.logits.valid())
        b.loss = b.g.op("binary_crossentropy", {b.logits, b.y}, {{"from_logits", int64_t{1}}});
    else
        b.loss = b.g.op("binary_crossentropy", {b.prediction, b.y},
                        {{"from_logits", int64_t{b.spec.from_logits}}});
}

DL_REGISTER_LOSS({.name = "binary_crossentropy",
                  .keys = {{.name = "from_logits", .flag = &LossSpec::from_logits}},
                  .build = build});

}  // namespace
}  // namespace dl
