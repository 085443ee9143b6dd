#include <algorithm>
#include <map>

#include "graph/op.h"

namespace dl {

static std::map<std::string, OpDef> & registry() {
    static std::map<std::string, OpDef> ops;
    return ops;
}

bool register_op(OpDef def, const char * file) {
    def.file = file;
    auto [it, inserted] = registry().emplace(def.name, def);
    DL_ASSERT(inserted && "an op registered twice");
    return true;
}

const OpDef * find_op(const std::string & name) {
    auto it = registry().find(name);
    return it == registry().end() ? nullptr : &it->second;
}

std::vector<const OpDef *> all_ops() {
    std::vector<const OpDef *> out;
    for (auto & [name, def] : registry()) out.push_back(&def);
    return out;
}

}  // namespace dl
