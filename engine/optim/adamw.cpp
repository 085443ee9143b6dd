// adamw: Adam with decoupled weight decay (p -= lr * weight_decay * p before the step), as Keras' AdamW,
// whose default decay is 0.004.
#include "optim/update_math.h"

namespace dl {
namespace {

DL_REGISTER_OPTIMIZER({.type = "adamw",
                       .kind = UpdateKind::adamw,
                       .weight_decay = 0.004,
                       .decoupled_weight_decay = true,
                       .keys = adam_keys(),
                       .slots = adam_slots,
                       .update = adam_update});

}  // namespace
}  // namespace dl
