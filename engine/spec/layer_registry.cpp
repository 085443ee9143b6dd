#include <algorithm>
#include <cmath>

#include "spec/layer_def.h"
#include "spec/registry.h"

namespace dl {

namespace {
using Layers = Registry<LayerDef, &LayerDef::type>;
}  // namespace

bool register_layer(LayerDef def, const char * file) { return Layers::instance().add(std::move(def), file); }
const LayerDef * find_layer(const std::string & type) { return Layers::instance().find(type); }
std::vector<const LayerDef *> all_layers() { return Layers::instance().all(); }
std::vector<std::string> layer_types() { return Layers::instance().names(); }

const std::vector<std::string> & activation_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> out = {"linear"};
        for (const OpDef * op : all_ops())
            if (op->activation) out.push_back(op->name);
        return out;
    }();
    return names;
}

const std::vector<std::string> & initializer_names() {
    static const std::vector<std::string> names = {"glorot_uniform", "glorot_normal", "he_normal",
                                                   "he_uniform",     "zeros",         "ones"};
    return names;
}

// LayerSpec's options.

const LayerValue & LayerSpec::option(const std::string & key) const {
    for (const auto & [k, v] : options)
        if (k == key) return v;
    throw Error(ExitCode::internal, fmt::format("layer '{}' ({}) has no option '{}'", name, type, key));
}

bool LayerSpec::has(const std::string & key) const {
    return std::any_of(options.begin(), options.end(), [&](const auto & kv) { return kv.first == key; });
}

namespace {
template <typename T>
const T & option_as(const LayerSpec & l, const LayerValue & v, const std::string & key) {
    const T * value = std::get_if<T>(&v);
    DL_CHECK(value != nullptr, ExitCode::internal, "layer '{}' ({}): option '{}' has another type", l.name,
             l.type, key);
    return *value;
}
}  // namespace

int64_t LayerSpec::integer(const std::string & key) const {
    return option_as<int64_t>(*this, option(key), key);
}
double LayerSpec::number(const std::string & key) const { return option_as<double>(*this, option(key), key); }
bool LayerSpec::flag(const std::string & key) const { return option_as<bool>(*this, option(key), key); }
const std::string & LayerSpec::text(const std::string & key) const {
    return option_as<std::string>(*this, option(key), key);
}
const std::vector<int64_t> & LayerSpec::integers(const std::string & key) const {
    return option_as<std::vector<int64_t>>(*this, option(key), key);
}
const std::vector<std::vector<int64_t>> & LayerSpec::pairs(const std::string & key) const {
    return option_as<std::vector<std::vector<int64_t>>>(*this, option(key), key);
}

void LayerSpec::set(const std::string & key, LayerValue value) {
    for (auto & [k, v] : options) {
        if (k == key) {
            v = std::move(value);
            return;
        }
    }
    options.emplace_back(key, std::move(value));
}

// LayerReader: MapReader's checks, each value kept as an option of the layer.

int64_t LayerReader::integer(const std::string & key, int64_t fallback, const NumberCheck & check) {
    const int64_t v = keys.integer(key, fallback, check);
    layer.set(key, v);
    return v;
}

double LayerReader::number(const std::string & key, double fallback, const NumberCheck & check) {
    const double v = keys.number(key, fallback, check);
    layer.set(key, v);
    return v;
}

bool LayerReader::flag(const std::string & key, bool fallback) {
    const bool v = keys.boolean(key, fallback);
    layer.set(key, v);
    return v;
}

std::string LayerReader::choice(const std::string & key, const std::string & fallback,
                                const std::vector<std::string> & choices, const std::string & what) {
    std::string v = keys.choice(key, fallback, choices, what);
    layer.set(key, v);
    return v;
}

std::vector<int64_t> LayerReader::integers(const std::string & key, const NumberCheck & check) {
    std::vector<int64_t> v = keys.integers(key, check);
    layer.set(key, v);
    return v;
}

std::vector<int64_t> LayerReader::size_pair(const std::string & key, std::vector<int64_t> fallback) {
    const YAML::Node v = keys.raw(key);  // known even when absent: "did you mean" can suggest it
    std::vector<int64_t> out = fallback;
    if (keys.has(key)) {
        if (v.IsScalar()) {
            const int64_t one = keys.integer(key, fallback[0], in_range(1, kMaxWindow));
            out = {one, one};
        } else {
            out = keys.integers(key, in_range(1, kMaxWindow));
            if (out.size() != 2 && !out.empty())
                problems.add(keys.value_loc(key),
                             fmt::format("{}: expected one number or [height, width], got {} numbers",
                                         keys.child_path(key), out.size()));
            if (out.size() != 2) out = fallback;
        }
    }
    layer.set(key, out);
    return out;
}

std::vector<std::vector<int64_t>> LayerReader::edges(const std::string & key, int64_t fallback_each) {
    const std::vector<std::vector<int64_t>> fallback = {{fallback_each, fallback_each},
                                                        {fallback_each, fallback_each}};
    const auto read = [&]() -> std::vector<std::vector<int64_t>> {
        const YAML::Node v = keys.raw(key);  // known even when absent: "did you mean" can suggest it
        if (!keys.has(key)) return fallback;
        auto bad = [&] {
            problems.add(keys.value_loc(key), fmt::format("{}: expected n, [rows, cols] or [[top, bottom], "
                                                          "[left, right]]",
                                                          keys.child_path(key)));
            return fallback;
        };
        if (v.IsScalar()) {
            const int64_t n = keys.integer(key, fallback_each, in_range(0, kMaxWindow));
            return {{n, n}, {n, n}};
        }
        if (!v.IsSequence() || v.size() != 2) return bad();
        if (v[0].IsScalar() && v[1].IsScalar()) {
            const std::vector<int64_t> rc = keys.integers(key, in_range(0, kMaxWindow));
            return rc.size() == 2 ? std::vector<std::vector<int64_t>>{{rc[0], rc[0]}, {rc[1], rc[1]}}
                                  : fallback;
        }
        std::vector<std::vector<int64_t>> out;
        for (size_t i = 0; i < 2; ++i) {
            if (!v[i].IsSequence() || v[i].size() != 2) return bad();
            out.emplace_back();
            for (size_t j = 0; j < 2; ++j) {
                const std::string where = fmt::format("{}.{}.{}", keys.child_path(key), i, j);
                auto d = read_number(problems, v[i][j], where);
                if (!d || !(*d >= 0 && *d <= kMaxWindow) || std::floor(*d) != *d) {
                    problems.add(
                        problems.loc(v[i][j], where),
                        fmt::format("{}: expected a whole number between 0 and {}", where, kMaxWindow));
                    return fallback;
                }
                out.back().push_back(static_cast<int64_t>(*d));
            }
        }
        return out;
    };
    std::vector<std::vector<int64_t>> out = read();
    layer.set(key, out);
    return out;
}

std::string LayerReader::padding() { return choice("padding", "valid", {"valid", "same"}, "padding"); }

void LayerReader::weight_options() {
    choice("activation", "linear", activation_names(), "activation");
    flag("use_bias", true);
    choice("kernel_initializer", "glorot_uniform", initializer_names(), "initializer");
    choice("bias_initializer", "zeros", initializer_names(), "initializer");
    number("l1", 0.0, non_negative());
    number("l2", 0.0, non_negative());
}

}  // namespace dl
