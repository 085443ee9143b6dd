#include "spec/spec_diff.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdlib>
#include <map>

#include "core/error.h"

namespace dl {

namespace {

struct FlatSpec {
    std::vector<std::string> order;
    std::map<std::string, std::string> values;
    void add(const std::string & key, std::string value) {
        if (values.emplace(key, std::move(value)).second) order.push_back(key);
    }
};

bool all_scalars(const YAML::Node & seq) {
    for (const YAML::Node & item : seq)
        if (!item.IsScalar() && !item.IsNull()) return false;
    return true;
}

// The renderer writes doubles with 17 significant digits (`lr: 0.050000000000000003`); a plain scalar that is a
// number is shown, and compared, in its shortest form that reads back to the same double (`0.05`).
std::string scalar_text(const YAML::Node & node) {
    const std::string & text = node.Scalar();
    if (node.Tag() != "?" || text.empty()) return text;  // quoted: a string, whatever it looks like
    char * end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size() || !std::isfinite(v)) return text;
    return fmt::format("{}", v);
}

std::string flow(const YAML::Node & node) {
    YAML::Emitter e;
    e << YAML::Flow << node;
    return e.c_str();
}

void flatten(const YAML::Node & node, const std::string & prefix, FlatSpec & out) {
    const auto child = [&](const std::string & key) { return prefix.empty() ? key : prefix + "." + key; };
    if (node.IsMap() && node.size() > 0) {
        for (const auto & kv : node) flatten(kv.second, child(kv.first.Scalar()), out);
    } else if (node.IsSequence() && node.size() > 0 && !all_scalars(node)) {
        for (size_t i = 0; i < node.size(); ++i) flatten(node[i], child(std::to_string(i)), out);
    } else if (node.IsScalar()) {
        out.add(prefix, scalar_text(node));
    } else if (node.IsNull()) {
        out.add(prefix, "null");
    } else {
        out.add(prefix, flow(node));  // [13], [] or {}
    }
}

FlatSpec flat_spec(const std::string & yaml, const std::string & what) {
    YAML::Node root;
    try {
        root = YAML::Load(yaml);
    } catch (const YAML::Exception & e) {
        throw Error(ExitCode::bad_input, fmt::format("{}: not a YAML spec: {}", what, e.what()));
    }
    FlatSpec flat;
    flatten(root, "", flat);
    return flat;
}

}  // namespace

std::vector<SpecChange> diff_spec_yaml(const std::string & a, const std::string & b,
                                       const std::string & what_a, const std::string & what_b) {
    const FlatSpec fa = flat_spec(a, what_a), fb = flat_spec(b, what_b);
    std::vector<SpecChange> changes;
    for (const std::string & key : fa.order) {
        auto it = fb.values.find(key);
        if (it == fb.values.end())
            changes.push_back({key, fa.values.at(key), std::nullopt});
        else if (it->second != fa.values.at(key))
            changes.push_back({key, fa.values.at(key), it->second});
    }
    for (const std::string & key : fb.order)
        if (!fa.values.count(key)) changes.push_back({key, std::nullopt, fb.values.at(key)});
    return changes;
}

}  // namespace dl
