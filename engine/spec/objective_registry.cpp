// The registries of losses and metrics (spec/loss_def.h, spec/metric_def.h).
#include "spec/loss_def.h"
#include "spec/metric_def.h"

namespace dl {

namespace {
using Losses = Registry<LossDef, &LossDef::name>;
using Metrics = Registry<MetricDef, &MetricDef::name>;
}  // namespace

bool register_loss(LossDef def, const char * file) { return Losses::instance().add(std::move(def), file); }
const LossDef * find_loss(const std::string & name) { return Losses::instance().find(name); }
std::vector<std::string> loss_names() { return Losses::instance().names(); }
const std::map<std::string, std::string> & loss_aliases() { return Losses::instance().aliases(); }

bool register_metric(MetricDef def, const char * file) {
    return Metrics::instance().add(std::move(def), file);
}
const MetricDef * find_metric(const std::string & name) { return Metrics::instance().find(name); }
std::vector<std::string> metric_names() { return Metrics::instance().names(); }
const std::map<std::string, std::string> & metric_aliases() { return Metrics::instance().aliases(); }

}  // namespace dl
