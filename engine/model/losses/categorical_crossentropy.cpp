// categorical_crossentropy: against one-hot targets, made here from the class labels, as Keras'
// CategoricalCrossentropy.
#include "model/layer_build.h"
#include "spec/loss_def.h"

namespace dl {
namespace {

void build(LossBuild & b) {
    Value z = b.class_logits();
    Value onehot = b.g.op("one_hot", {b.y}, {{"depth", b.info.classes}});
    b.loss = b.g.op("categorical_crossentropy", {z, onehot}, {{"from_logits", int64_t{1}}});
}

DL_REGISTER_LOSS({.name = "categorical_crossentropy",
                  .classification = true,
                  .keys = {{.name = "from_logits", .flag = &LossSpec::from_logits}},
                  .build = build});

}  // namespace
}  // namespace dl
