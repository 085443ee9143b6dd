// An optimizer lives in one file: engine/optim/<type>.cpp holds its spec keys (with their defaults and
// checks, which read and render both use), its slots and its host update, and registers itself; its fused
// CUDA update is engine/optim/<type>.cu beside it (backend/cuda/optimizer_update.cuh).
//
//   // engine/optim/adagrad.cpp
//   DL_REGISTER_OPTIMIZER({.type = "adagrad", .kind = UpdateKind::adagrad,
//                          .keys = {{.name = "initial_accumulator", .number = &OptimizerSpec::initial_accumulator,
//                                    .fallback = 0.1, .check = non_negative}, ...},
//                          .slots = slots, .update = update});
//
// The interface and its registry live with the spec, which reads and renders optimizers through them; the
// update's plain-data types are the backend's (backend/backend.h), declared here only by name.
#pragma once

#include <string>
#include <vector>

#include "graph/op.h"  // DL_CONCAT
#include "spec/registry.h"
#include "spec/spec.h"

namespace dl {

enum class UpdateKind : int;  // backend/backend.h
struct UpdateRule;
struct OptimizerTensor;

// One key of train.optimizer beyond type, lr and weight_decay.
using OptimizerKey = SpecKey<OptimizerSpec>;

// A slot the optimizer keeps per parameter ("<param>/<name>" in checkpoints), with its initial value.
struct OptimizerSlot {
    const char * name = nullptr;
    double initial = 0;
};

struct OptimizerDef {
    const char * type = nullptr;
    std::vector<std::string> aliases;
    UpdateKind kind{};
    double lr = 0.001;  // Keras' defaults
    double weight_decay = 0.0;
    bool decoupled_weight_decay = false;  // AdamW: decay applied to the weights, not added to the gradient
    std::vector<OptimizerKey> keys;       // in the order render prints them
    // slot0, slot1 of OptimizerTensor, in order; none when the spec's options need none (sgd without momentum).
    std::vector<OptimizerSlot> (*slots)(const OptimizerSpec &) = nullptr;
    // Elements [begin, end) of one parameter (see update_range in optim/optimizer.h).
    void (*update)(const UpdateRule &, const OptimizerTensor &, int64_t begin, int64_t end, float clip_scale,
                   double lr, double t) = nullptr;
    const char * file = "";
};

bool register_optimizer(OptimizerDef def, const char * file);
const OptimizerDef * find_optimizer(const std::string & type);
const OptimizerDef * find_optimizer(UpdateKind kind);
// Sorted by type.
std::vector<const OptimizerDef *> all_optimizers();
std::vector<std::string> optimizer_types();

}  // namespace dl

#define DL_REGISTER_OPTIMIZER(...)                                    \
    static const bool DL_CONCAT(dl_registered_optimizer_, __LINE__) = \
        ::dl::register_optimizer(::dl::OptimizerDef __VA_ARGS__, __FILE__)
