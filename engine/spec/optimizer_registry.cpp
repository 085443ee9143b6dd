#include "spec/optimizer_def.h"
#include "spec/registry.h"

namespace dl {

namespace {
using Optimizers = Registry<OptimizerDef, &OptimizerDef::type>;
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

}  // namespace dl
