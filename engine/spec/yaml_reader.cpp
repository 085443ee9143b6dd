#include "spec/yaml_reader.h"

#include <algorithm>
#include <cmath>

#include "spec/spec.h"

namespace dl {

SourceLoc Problems::loc_of_mark(const YAML::Mark & mark) const {
    if (mark.is_null() || mark.line < 0) return {.file = file_};
    return {.file = file_, .line = mark.line + 1, .col = mark.column + 1};
}

SourceLoc Problems::loc(const YAML::Node & node, const std::string & path) const {
    // A value put there by --set has no place in the file: name the --set instead.
    for (auto & [where, text] : overrides_) {
        if (path == where || path.rfind(where + ".", 0) == 0) return {.file = "--set " + text};
    }
    return loc_of_mark(node.Mark());
}

void Problems::add(const SourceLoc & loc, const std::string & message, const std::string & note) {
    messages_.push_back(format_at(loc, message, note));
    only_missing_files_ = false;
}

void Problems::add_missing_file(const SourceLoc & loc, const std::string & message,
                                const std::string & note) {
    messages_.push_back(format_at(loc, message, note));
}

void Problems::throw_if_any() const {
    if (messages_.empty()) return;
    std::string all = messages_[0];
    for (size_t i = 1; i < messages_.size(); ++i) all += "\ndlctl: error: " + messages_[i];
    if (messages_.size() > 1) all += fmt::format("\ndlctl: {} problems in {}", messages_.size(), file_);
    throw Error(only_missing_files_ ? ExitCode::missing_input : ExitCode::bad_input, all);
}

NumberCheck at_least(double lo) {
    return [lo](double v) { return v >= lo ? std::string() : fmt::format("must be at least {}", lo); };
}
NumberCheck positive_finite() {
    return [](double v) {
        return std::isfinite(v) && v > 0 ? std::string() : std::string("must be a finite positive number");
    };
}
NumberCheck in_unit_interval_open_right() {
    return [](double v) { return v >= 0 && v < 1 ? std::string() : std::string("must be in [0, 1)"); };
}
NumberCheck non_negative() {
    return [](double v) {
        return std::isfinite(v) && v >= 0 ? std::string() : std::string("must be a finite number >= 0");
    };
}

static const char * kind_of(const YAML::Node & n) {
    switch (n.Type()) {
        case YAML::NodeType::Map:
            return "a mapping";
        case YAML::NodeType::Sequence:
            return "a list";
        case YAML::NodeType::Null:
            return "nothing";
        case YAML::NodeType::Scalar:
            return "a scalar";
        default:
            return "an undefined value";
    }
}

std::optional<double> read_number(Problems & p, const YAML::Node & n, const std::string & path) {
    if (n.IsScalar()) {
        const std::string s = n.Scalar();
        // YAML 1.2 spellings: .inf, -.inf, .nan
        if (s == ".inf" || s == ".Inf") return INFINITY;
        if (s == "-.inf" || s == "-.Inf") return -INFINITY;
        if (s == ".nan" || s == ".NaN") return NAN;
        try {
            size_t used = 0;
            const double v = std::stod(s, &used);
            if (used == s.size()) return v;
        } catch (...) {
        }
        p.add(p.loc(n, path), fmt::format("{}: expected a number, got '{}'", path, s));
        return std::nullopt;
    }
    p.add(p.loc(n, path), fmt::format("{}: expected a number, got {}", path, kind_of(n)));
    return std::nullopt;
}

std::optional<std::string> read_string(Problems & p, const YAML::Node & n, const std::string & path) {
    if (n.IsScalar()) return n.Scalar();
    p.add(p.loc(n, path), fmt::format("{}: expected a string, got {}", path, kind_of(n)));
    return std::nullopt;
}

MapReader::MapReader(Problems & problems, const YAML::Node & node, std::string path, bool allow_null,
                     SourceLoc where)
    : problems_(problems),
      node_(node.IsDefined() ? node : YAML::Node()),
      where_(std::move(where)),
      path_(std::move(path)) {
    // reset(), not assignment: assigning through a handle writes into the node it refers to.
    if (allow_null && (!node.IsDefined() || node.IsNull())) {
        node_.reset(YAML::Node(YAML::NodeType::Map));
        return;
    }
    if (!node.IsMap()) {
        problems_.add(
            node.IsDefined() ? problems_.loc(node, path_) : where_,
            fmt::format("{}: expected a mapping of keys to values, got {}", path_.empty() ? "spec" : path_,
                        node.IsDefined() ? kind_of(node) : "nothing"));
        ok_ = false;
        node_.reset(YAML::Node(YAML::NodeType::Map));
    }
}

bool MapReader::has(const std::string & key) const { return ok_ && node_[key].IsDefined(); }

std::optional<YAML::Node> MapReader::get(const std::string & key) {
    known_.push_back(key);
    if (!ok_) return std::nullopt;
    const YAML::Node & c = node_;
    YAML::Node v = c[key];
    if (!v.IsDefined()) return std::nullopt;
    return v;
}

YAML::Node MapReader::raw(const std::string & key) {
    auto v = get(key);
    if (v) return *v;
    const YAML::Node nothing(YAML::NodeType::Map);
    return nothing["(absent)"];  // an undefined node: IsDefined() is false
}

SourceLoc MapReader::key_loc(const std::string & key) const {
    for (auto it = node_.begin(); it != node_.end(); ++it) {
        if (it->first.IsScalar() && it->first.Scalar() == key)
            return problems_.loc(it->first, child_path(key));
    }
    return loc();
}

SourceLoc MapReader::value_loc(const std::string & key) const {
    const YAML::Node & c = node_;
    YAML::Node v = c[key];
    return v.IsDefined() ? problems_.loc(v, child_path(key)) : loc();
}

double MapReader::number(const std::string & key, double fallback, const NumberCheck & check) {
    auto v = get(key);
    if (!v) return fallback;
    auto d = read_number(problems_, *v, child_path(key));
    if (!d) return fallback;
    if (check) {
        const std::string why = check(*d);
        if (!why.empty()) {
            problems_.add(value_loc(key), fmt::format("{} {}, got {}", child_path(key), why, v->Scalar()));
            return fallback;
        }
    }
    return *d;
}

int64_t MapReader::integer(const std::string & key, int64_t fallback, const NumberCheck & check) {
    auto v = get(key);
    if (!v) return fallback;
    auto d = read_number(problems_, *v, child_path(key));
    if (!d) return fallback;
    if (!std::isfinite(*d) || std::floor(*d) != *d) {
        problems_.add(value_loc(key),
                      fmt::format("{}: expected a whole number, got '{}'", child_path(key), v->Scalar()));
        return fallback;
    }
    if (std::fabs(*d) > 1e15) {
        problems_.add(value_loc(key), fmt::format("{}: {} is too large", child_path(key), v->Scalar()));
        return fallback;
    }
    if (check) {
        const std::string why = check(*d);
        if (!why.empty()) {
            problems_.add(value_loc(key), fmt::format("{} {}, got {}", child_path(key), why, v->Scalar()));
            return fallback;
        }
    }
    return static_cast<int64_t>(*d);
}

bool MapReader::boolean(const std::string & key, bool fallback) {
    auto v = get(key);
    if (!v) return fallback;
    if (v->IsScalar()) {
        const std::string s = v->Scalar();
        if (s == "true" || s == "True" || s == "yes") return true;
        if (s == "false" || s == "False" || s == "no") return false;
    }
    problems_.add(value_loc(key), fmt::format("{}: expected true or false, got '{}'", child_path(key),
                                              v->IsScalar() ? v->Scalar() : kind_of(*v)));
    return fallback;
}

std::string MapReader::string(const std::string & key, const std::string & fallback) {
    auto v = get(key);
    if (!v) return fallback;
    auto s = read_string(problems_, *v, child_path(key));
    return s ? *s : fallback;
}

std::string MapReader::choice(const std::string & key, const std::string & fallback,
                              const std::vector<std::string> & choices, const std::string & what,
                              const std::map<std::string, std::string> & aliases) {
    auto v = get(key);
    if (!v) return fallback;
    auto s = read_string(problems_, *v, child_path(key));
    if (!s) return fallback;
    if (std::find(choices.begin(), choices.end(), *s) != choices.end()) return *s;
    if (auto it = aliases.find(*s); it != aliases.end()) return it->second;
    std::vector<std::string> all = choices;
    for (auto & [alias, canonical] : aliases) all.push_back(alias);
    const std::string close = closest_match(*s, all);
    problems_.add(value_loc(key), fmt::format("unknown {} '{}'", what, *s),
                  close.empty() ? fmt::format("expected one of: {}", fmt::join(choices, ", "))
                                : fmt::format("did you mean '{}'?", close));
    return fallback;
}

std::vector<std::string> MapReader::strings(const std::string & key) {
    auto v = get(key);
    if (!v) return {};
    std::vector<std::string> out;
    if (v->IsScalar()) return {v->Scalar()};
    if (!v->IsSequence()) {
        problems_.add(value_loc(key),
                      fmt::format("{}: expected a list of names, got {}", child_path(key), kind_of(*v)));
        return {};
    }
    for (size_t i = 0; i < v->size(); ++i) {
        auto s = read_string(problems_, (*v)[i], fmt::format("{}.{}", child_path(key), i));
        if (s) out.push_back(*s);
    }
    return out;
}

std::vector<int64_t> MapReader::integers(const std::string & key, const NumberCheck & check) {
    auto v = get(key);
    if (!v) return {};
    if (!v->IsSequence()) {
        problems_.add(value_loc(key), fmt::format("{}: expected a list of whole numbers, got {}",
                                                  child_path(key), kind_of(*v)));
        return {};
    }
    std::vector<int64_t> out;
    for (size_t i = 0; i < v->size(); ++i) {
        const std::string p = fmt::format("{}.{}", child_path(key), i);
        auto d = read_number(problems_, (*v)[i], p);
        if (!d) continue;
        if (std::floor(*d) != *d) {
            problems_.add(problems_.loc((*v)[i], p),
                          fmt::format("{}: expected a whole number, got '{}'", p, (*v)[i].Scalar()));
            continue;
        }
        if (check && !check(*d).empty()) {
            problems_.add(problems_.loc((*v)[i], p),
                          fmt::format("{} {}, got {}", p, check(*d), (*v)[i].Scalar()));
            continue;
        }
        out.push_back(static_cast<int64_t>(*d));
    }
    return out;
}

void MapReader::require(const std::string & key) {
    if (ok_ && !has(key))
        problems_.add(where_.known() ? where_ : loc(),
                      fmt::format("{}: missing required key '{}'", path_.empty() ? "spec" : path_, key));
}

void MapReader::finish() {
    if (!ok_) return;
    std::map<std::string, SourceLoc> seen;
    for (auto it = node_.begin(); it != node_.end(); ++it) {
        const std::string key = it->first.IsScalar() ? it->first.Scalar() : "?";
        const SourceLoc here = problems_.loc(it->first, child_path(key));
        if (auto [first, fresh] = seen.emplace(key, here); !fresh) {
            problems_.add(
                here, fmt::format("key '{}' appears twice in {}", key, path_.empty() ? "the spec" : path_),
                first->second.known() ? fmt::format("first at line {}", first->second.line) : "");
            continue;
        }
        if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
        std::vector<std::string> unique = known_;
        std::sort(unique.begin(), unique.end());
        unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
        const std::string close = closest_match(key, unique);
        problems_.add(problems_.loc(it->first, child_path(key)),
                      fmt::format("unknown key '{}' in {}", key, path_.empty() ? "the spec" : path_),
                      close.empty() ? fmt::format("expected one of: {}", fmt::join(unique, ", "))
                                    : fmt::format("did you mean '{}'?", close));
    }
}

std::map<std::string, std::string> apply_overrides(YAML::Node & root,
                                                   const std::vector<std::string> & overrides) {
    std::map<std::string, std::string> applied;
    for (const std::string & text : overrides) {
        const size_t eq = text.find('=');
        if (eq == std::string::npos || eq == 0)
            throw Error(ExitCode::usage,
                        fmt::format("--set {}: expected KEY=VALUE, e.g. train.epochs=10", text));
        const std::string path = text.substr(0, eq);
        YAML::Node value;
        try {
            value = YAML::Load(text.substr(eq + 1));
        } catch (const YAML::Exception & e) {
            throw Error(ExitCode::usage,
                        fmt::format("--set {}: the value is not valid YAML: {}", text, e.msg));
        }
        std::vector<std::string> parts;
        for (size_t start = 0;;) {
            const size_t dot = path.find('.', start);
            parts.push_back(path.substr(start, dot - start));
            if (dot == std::string::npos) break;
            start = dot + 1;
        }
        YAML::Node cur = root;
        std::string walked;
        for (size_t i = 0; i < parts.size(); ++i) {
            const std::string & part = parts[i];
            if (part.empty())
                throw Error(ExitCode::usage, fmt::format("--set {}: empty key in '{}'", text, path));
            const bool last = i + 1 == parts.size();
            walked += (walked.empty() ? "" : ".") + part;
            if (cur.IsSequence()) {
                size_t index = 0;
                try {
                    size_t used = 0;
                    index = std::stoul(part, &used);
                    if (used != part.size()) throw std::invalid_argument(part);
                } catch (...) {
                    throw Error(ExitCode::usage,
                                fmt::format("--set {}: '{}' is a list; expected an index, got '{}'", text,
                                            walked.substr(0, walked.size() - part.size() - 1), part));
                }
                if (index >= cur.size())
                    throw Error(ExitCode::usage,
                                fmt::format("--set {}: index {} is past the end of a list of {}", text, index,
                                            cur.size()));
                if (last)
                    cur[index] = value;
                else
                    cur.reset(YAML::Node(cur[index]));
                continue;
            }
            if (cur.IsNull() || !cur.IsDefined()) cur = YAML::Node(YAML::NodeType::Map);
            if (!cur.IsMap())
                throw Error(ExitCode::usage,
                            fmt::format("--set {}: cannot set '{}' inside a scalar value", text, part));
            if (last) {
                cur[part] = value;
            } else {
                if (!cur[part].IsDefined() || cur[part].IsNull()) cur[part] = YAML::Node(YAML::NodeType::Map);
                cur.reset(YAML::Node(cur[part]));
            }
        }
        applied[path] = text;
    }
    return applied;
}

}  // namespace dl
