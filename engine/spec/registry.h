// The registries of the things a spec names (layers, optimizers, losses, metrics): each definition lives in
// one file and registers itself at start-up under its name and its aliases. The registry is a function-local
// static, since registrars in other translation units may run before this one's statics are made.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "spec/yaml_reader.h"

namespace dl {

// One key of a spec section that a definition owns (an optimizer's beta_1, a loss's delta): a number or a flag
// of the section's struct, with its default and check. Read and render both go through it.
template <typename Section>
struct SpecKey {
    const char * name = nullptr;
    double Section::*number = nullptr;
    bool Section::*flag = nullptr;
    double fallback = 0;
    NumberCheck (*check)() = nullptr;
};

template <typename Section>
void read_keys(MapReader & m, const std::vector<SpecKey<Section>> & keys, Section & section) {
    for (const SpecKey<Section> & key : keys) {
        if (key.number)
            section.*key.number = m.number(key.name, key.fallback, key.check ? key.check() : NumberCheck{});
        else
            section.*key.flag = m.boolean(key.name, key.fallback != 0);
    }
}

template <typename Section>
void emit_keys(YAML::Emitter & e, const std::vector<SpecKey<Section>> & keys, const Section & section) {
    for (const SpecKey<Section> & key : keys) {
        e << YAML::Key << key.name << YAML::Value;
        if (key.number)
            e << section.*key.number;
        else
            e << section.*key.flag;
    }
}

// Def has `const char * <name>`, `std::vector<std::string> aliases` and `const char * file`.
template <typename Def, const char * Def::*Name>
class Registry {
public:
    static Registry & instance() {
        static Registry registry;
        return registry;
    }

    bool add(Def def, const char * file) {
        def.file = file;
        const std::string name = def.*Name;
        for (const std::string & alias : def.aliases) {
            [[maybe_unused]] const bool fresh = aliases_.emplace(alias, name).second;
            DL_ASSERT(fresh && "an alias registered twice");
        }
        [[maybe_unused]] const bool inserted = defs_.emplace(name, std::move(def)).second;
        DL_ASSERT(inserted && "a name registered twice");
        return true;
    }
    // By canonical name or alias.
    const Def * find(const std::string & name) const {
        auto alias = aliases_.find(name);
        auto it = defs_.find(alias == aliases_.end() ? name : alias->second);
        return it == defs_.end() ? nullptr : &it->second;
    }
    // Sorted by name.
    std::vector<const Def *> all() const {
        std::vector<const Def *> out;
        for (auto & [name, def] : defs_) out.push_back(&def);
        return out;
    }
    std::vector<std::string> names() const {
        std::vector<std::string> out;
        for (auto & [name, def] : defs_) out.push_back(name);
        return out;
    }
    const std::map<std::string, std::string> & aliases() const { return aliases_; }

private:
    std::map<std::string, Def> defs_;
    std::map<std::string, std::string> aliases_;  // alias -> name
};

}  // namespace dl
