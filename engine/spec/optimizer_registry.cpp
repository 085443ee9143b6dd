#include <map>

#include "spec/optimizer_def.h"

namespace dl {

namespace {
std::map<std::string, OptimizerDef> & registry() {
    static std::map<std::string, OptimizerDef> optimizers;  // function-local: registrars may run first
    return optimizers;
}
}  // namespace

bool register_optimizer(OptimizerDef def, const char * file) {
    def.file = file;
    [[maybe_unused]] const bool inserted = registry().emplace(def.type, std::move(def)).second;
    DL_ASSERT(inserted && "an optimizer registered twice");
    return true;
}

const OptimizerDef * find_optimizer(const std::string & type) {
    auto it = registry().find(type);
    return it == registry().end() ? nullptr : &it->second;
}

const OptimizerDef * find_optimizer(UpdateKind kind) {
    for (auto & [type, def] : registry())
        if (def.kind == kind) return &def;
    return nullptr;
}

std::vector<const OptimizerDef *> all_optimizers() {
    std::vector<const OptimizerDef *> out;
    for (auto & [type, def] : registry()) out.push_back(&def);
    return out;
}

std::vector<std::string> optimizer_types() {
    std::vector<std::string> out;
    for (auto & [type, def] : registry()) out.push_back(type);
    return out;
}

}  // namespace dl
