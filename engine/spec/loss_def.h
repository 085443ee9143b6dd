// A loss lives in one file: engine/model/losses/<name>.cpp holds the graph it adds after the model's
// prediction, whether its targets are class labels, and the keys of train.loss that are its own, and
// registers itself; a metric likewise in engine/model/metrics/<name>.cpp (spec/metric_def.h).
//   DL_REGISTER_LOSS({.name = "huber", .aliases = {"huber_loss"},
//                     .keys = {{.name = "delta", .number = &LossSpec::delta}}, .build = build});
#pragma once

#include <string>
#include <vector>

#include "graph/op.h"  // DL_CONCAT
#include "spec/registry.h"
#include "spec/spec.h"

namespace dl {

struct LossBuild;  // model/layer_build.h

struct LossDef {
    const char * name = nullptr;
    std::vector<std::string> aliases;  // Keras' long names
    // Targets are class labels (int32 [batch]; metrics by argmax), else target columns ([batch, targets]).
    bool classification = false;
    // The keys of train.loss it uses, in the order render prints them (every loss reads delta and
    // from_logits).
    std::vector<SpecKey<LossSpec>> keys;
    void (*build)(LossBuild &) = nullptr;
    const char * file = "";
};

bool register_loss(LossDef def, const char * file);
// By name or alias.
const LossDef * find_loss(const std::string & name);
std::vector<std::string> loss_names();
const std::map<std::string, std::string> & loss_aliases();

}  // namespace dl

#define DL_REGISTER_LOSS(...)                                    \
    static const bool DL_CONCAT(dl_registered_loss_, __LINE__) = \
        ::dl::register_loss(::dl::LossDef __VA_ARGS__, __FILE__)
