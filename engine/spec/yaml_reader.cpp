#include "spec/yaml_reader.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/text.h"
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
    ++count_;
    if (!full()) messages_.push_back(format_at(loc, message, note));
    only_missing_files_ = false;
}

void Problems::add_missing_file(const SourceLoc & loc, const std::string & message,
                                const std::string & note) {
    ++count_;
    if (!full()) messages_.push_back(format_at(loc, message, note));
}

void Problems::throw_if_any() const {
    if (count_ == 0) return;
    std::string all = messages_[0];
    for (size_t i = 1; i < messages_.size(); ++i) all += "\ndlctl: error: " + messages_[i];
    if (count_ > messages_.size())
        all +=
            fmt::format("\ndlctl: {} problems in {} (the first {} shown)", count_, file_, messages_.size());
    else if (count_ > 1)
        all += fmt::format("\ndlctl: {} problems in {}", count_, file_);
    throw Error(only_missing_files_ ? ExitCode::missing_input : ExitCode::bad_input, all);
}

NumberCheck at_least(double lo) {
    return [lo](double v) { return v >= lo ? std::string() : fmt::format("must be at least {}", lo); };
}
NumberCheck in_range(double lo, double hi) {
    // Whole bounds print as integers: "between 1 and 16777216", not "1.6777216e+07".
    const auto text = [](double v) {
        return std::floor(v) == v && std::fabs(v) < 9e15 ? fmt::format("{}", static_cast<int64_t>(v))
                                                         : fmt::format("{}", v);
    };
    return [lo, hi, range = fmt::format("must be between {} and {}", text(lo), text(hi))](double v) {
        return v >= lo && v <= hi ? std::string() : range;
    };
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
    if (check) {
        const std::string why = check(*d);
        if (!why.empty()) {
            problems_.add(value_loc(key), fmt::format("{} {}, got {}", child_path(key), why, v->Scalar()));
            return fallback;
        }
    }
    if (std::fabs(*d) > 1e15) {  // before the cast: a double above 2^63 has no int64_t
        problems_.add(value_loc(key), fmt::format("{}: {} is too large", child_path(key), v->Scalar()));
        return fallback;
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

std::vector<int64_t> MapReader::integers(const std::string & key, const NumberCheck & check,
                                         size_t max_count) {
    auto v = get(key);
    if (!v) return {};
    if (!v->IsSequence()) {
        problems_.add(value_loc(key), fmt::format("{}: expected a list of whole numbers, got {}",
                                                  child_path(key), kind_of(*v)));
        return {};
    }
    if (v->size() > max_count) {
        problems_.add(value_loc(key), fmt::format("{}: expected at most {} numbers, got {}", child_path(key),
                                                  max_count, v->size()));
        return {};
    }
    std::vector<int64_t> out;
    for (size_t i = 0; i < v->size(); ++i) {
        const std::string p = fmt::format("{}.{}", child_path(key), i);
        auto d = read_number(problems_, (*v)[i], p);
        if (!d) continue;
        // The range first: casting 1e300 (or NaN) to an integer is undefined behaviour.
        if (!std::isfinite(*d) || std::floor(*d) != *d) {
            problems_.add(problems_.loc((*v)[i], p),
                          fmt::format("{}: expected a whole number, got '{}'", p, (*v)[i].Scalar()));
            continue;
        }
        if (check && !check(*d).empty()) {
            problems_.add(problems_.loc((*v)[i], p),
                          fmt::format("{} {}, got {}", p, check(*d), (*v)[i].Scalar()));
            continue;
        }
        if (std::fabs(*d) > 1e15) {  // before the cast: a double above 2^63 has no int64_t
            problems_.add(problems_.loc((*v)[i], p), fmt::format("{}: {} is too large", p, (*v)[i].Scalar()));
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

namespace {

// Counts how deeply the mappings and lists nest while yaml-cpp parses, and stops it past kMaxYamlDepth: its
// parser recurses once per level, so the check has to run before the recursion gets deep, not on the nodes.
class DepthCheck : public YAML::EventHandler {
public:
    struct TooDeep {
        YAML::Mark mark;
    };
    void OnDocumentStart(const YAML::Mark &) override {}
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark &, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark &, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark &, const std::string &, YAML::anchor_t, const std::string &) override {}
    void OnSequenceStart(const YAML::Mark & mark, const std::string &, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {
        enter(mark);
    }
    void OnSequenceEnd() override { --depth_; }
    void OnMapStart(const YAML::Mark & mark, const std::string &, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {
        enter(mark);
    }
    void OnMapEnd() override { --depth_; }

private:
    void enter(const YAML::Mark & mark) {
        if (++depth_ > kMaxYamlDepth) throw TooDeep{mark};
    }
    int depth_ = 0;
};

// Throws DepthCheck::TooDeep where the text nests too deeply (YAML::Load reads the first document only).
void check_depth(const std::string & text) {
    std::istringstream in(text);
    YAML::Parser parser(in);
    DepthCheck depth;
    parser.HandleNextDocument(depth);
}

SourceLoc loc_of_offset(const std::string & file, std::string_view text, size_t offset) {
    const size_t line_start = text.rfind('\n', offset == 0 ? 0 : offset - 1);
    const size_t col0 = line_start == std::string_view::npos ? offset : offset - line_start - 1;
    const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(offset), '\n');
    return {.file = file, .line = static_cast<int>(line), .col = static_cast<int>(col0) + 1};
}

}  // namespace

YAML::Node load_yaml(Problems & p, const std::string & text) {
    const std::string_view body =
        std::string_view(text).substr(text.rfind("\xEF\xBB\xBF", 0) == 0 ? 3 : 0);  // a UTF-8 byte order mark
    if (text.size() > kMaxSpecBytes) {
        p.add({.file = p.file()},
              fmt::format("the spec is {} bytes; the limit is {} MiB", text.size(), kMaxSpecBytes >> 20));
        return {};
    }
    if (const size_t bad = invalid_utf8_at(body); bad != std::string_view::npos) {
        const size_t offset = bad + (text.size() - body.size());
        p.add(loc_of_offset(p.file(), text, offset),
              fmt::format("invalid UTF-8 (byte 0x{:02x})", static_cast<unsigned char>(text[offset])),
              "a spec is UTF-8 text; re-save the file as UTF-8");
        return {};
    }
    const auto syntax_error = [&](const YAML::Mark & mark, const std::string & msg) {
        std::string note;
        if (msg.find("illegal map value") != std::string::npos)
            note =
                "check the indentation: the keys of one mapping must line up, and 'key: value' needs a space "
                "after ':'";
        else if (msg.find("end of sequence flow") != std::string::npos)
            note = "a '[' above is never closed with ']'";
        else if (msg.find("end of map flow") != std::string::npos)
            note = "a '{' above is never closed with '}'";
        p.add(p.loc_of_mark(mark), fmt::format("invalid YAML: {}", msg), note);
    };
    const auto too_deep = [&](const YAML::Mark & mark) {
        p.add(p.loc_of_mark(mark),
              fmt::format("mappings and lists nest deeper than {} levels", kMaxYamlDepth),
              "a spec needs a handful of levels; is a bracket left open?");
    };
    try {
        check_depth(text);
        return YAML::Load(text);
    } catch (const DepthCheck::TooDeep & e) {
        too_deep(e.mark);
    } catch (const YAML::DeepRecursion & e) {  // yaml-cpp's own guard ("bad file"): the same, said plainly
        too_deep(e.mark);
    } catch (const YAML::ParserException & e) {
        syntax_error(e.mark, e.msg);
    } catch (const YAML::Exception & e) {
        syntax_error(e.mark, e.msg);
    }
    return {};
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
        if (invalid_utf8_at(text) != std::string::npos)
            throw Error(ExitCode::usage, fmt::format("--set {}: not UTF-8 text", text));
        try {
            check_depth(text.substr(eq + 1));
            value = YAML::Load(text.substr(eq + 1));
        } catch (const DepthCheck::TooDeep &) {
            throw Error(ExitCode::usage,
                        fmt::format("--set {}: the value nests deeper than {} levels", text, kMaxYamlDepth));
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
