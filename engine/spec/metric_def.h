// A metric lives in one file: engine/model/metrics/<name>.cpp holds how a sample adds to it and which way is
// better, and registers itself (see spec/loss_def.h for losses). ModelSession sums it over an epoch and
// divides by the samples.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "graph/op.h"  // DL_CONCAT
#include "spec/registry.h"

namespace dl {

struct MetricDef {
    const char * name = nullptr;
    std::vector<std::string> aliases;  // Keras' names
    bool higher_is_better = false;     // for monitors: accuracy goes up, errors go down
    // Adds one sample's share to `sum`: class probabilities against a label (classification), or predictions
    // against target columns. None: the metric adds nothing for that kind of target.
    void (*classified)(double & sum, const float * probabilities, int64_t classes, int64_t label) = nullptr;
    void (*regressed)(double & sum, const float * prediction, const float * target, int64_t width) = nullptr;
    const char * file = "";
};

bool register_metric(MetricDef def, const char * file);
// By name or alias.
const MetricDef * find_metric(const std::string & name);
std::vector<std::string> metric_names();
const std::map<std::string, std::string> & metric_aliases();

}  // namespace dl

#define DL_REGISTER_METRIC(...)                                    \
    static const bool DL_CONCAT(dl_registered_metric_, __LINE__) = \
        ::dl::register_metric(::dl::MetricDef __VA_ARGS__, __FILE__)
