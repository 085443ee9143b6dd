// sparse_categorical_crossentropy: against integer class labels, as Keras' SparseCategoricalCrossentropy.
#include "model/layer_build.h"
#include "spec/loss_def.h"

namespace dl {
namespace {

void build(LossBuild & b) { b.loss = b.g.op("sparse_categorical_crossentropy", {b.class_logits(), b.y}); }

DL_REGISTER_LOSS({.name = "sparse_categorical_crossentropy",
                  .classification = true,
                  .keys = {{.name = "from_logits", .flag = &LossSpec::from_logits}},
                  .build = build});

}  // namespace
}  // namespace dl
