// The registries of optimizers and learning-rate schedules (spec/optimizer_def.h, spec/schedule_def.h).
#include "spec/optimizer_def.h"
#include "spec/registry.h"
#include "spec/schedule_def.h"

namespace dl {

namespace {
using Optimizers = Registry<OptimizerDef, &OptimizerDef::type>;
using Schedules = Registry<ScheduleDef, &ScheduleDef::type>;
}  // namespace

bool register_optimizer(OptimizerDef def, const char * file) {
    return Optimizers::instance().add(std::move(def), file);
}
const OptimizerDef * find_optimizer(const std::string & type) { return Optimizers::instance().find(type); }
const OptimizerDef * find_optimizer(UpdateKind kind) {
    for (const OptimizerDef * def : Optimizers::instance().all())
        if (def->kind == kind) return def;
    return nullptr;
}
std::vector<const OptimizerDef *> all_optimizers() { return Optimizers::instance().all(); }
std::vector<std::string> optimizer_types() { return Optimizers::instance().names(); }

bool register_schedule(ScheduleDef def, const char * file) {
    return Schedules::instance().add(std::move(def), file);
}
const ScheduleDef * find_schedule(const std::string & type) { return Schedules::instance().find(type); }
std::vector<const ScheduleDef *> all_schedules() { return Schedules::instance().all(); }
std::vector<std::string> schedule_types() { return Schedules::instance().names(); }

}  // namespace dl
