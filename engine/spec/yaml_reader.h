// Reading YAML with locations, type checks, range checks, "did you mean" for unknown keys, and every problem
// gathered before reporting. Used by the spec parser; knows nothing about models.
//   Problems problems(file, overrides);
//   MapReader train(problems, root["train"], "train");
//   int64_t epochs = train.integer("epochs", 1, at_least(1));
//   train.finish();                      // unknown keys become problems
//   problems.throw_if_any();             // Error(bad_input) with all messages
#pragma once

#include <yaml-cpp/yaml.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/source_loc.h"

namespace dl {

class Problems {
public:
    Problems(std::string file, std::map<std::string, std::string> overrides)
        : file_(std::move(file)), overrides_(std::move(overrides)) {}

    // Where `node` (at dotted `path`) came from: the file, or the --set that put it there.
    SourceLoc loc(const YAML::Node & node, const std::string & path) const;
    SourceLoc loc_of_mark(const YAML::Mark & mark) const;
    void add(const SourceLoc & loc, const std::string & message, const std::string & note = {});
    void add_missing_file(const SourceLoc & loc, const std::string & message, const std::string & note = {});
    bool empty() const { return count_ == 0; }
    // Past kMaxShownProblems the rest are only counted: a spec with 100,000 broken layers gets a readable
    // message in milliseconds. Callers skip work (did-you-mean searches) that nobody would see.
    bool full() const { return messages_.size() >= kMaxShownProblems; }
    void throw_if_any() const;
    const std::string & file() const { return file_; }

    static constexpr size_t kMaxShownProblems = 20;

private:
    std::string file_;
    std::map<std::string, std::string> overrides_;
    std::vector<std::string> messages_;
    size_t count_ = 0;
    bool only_missing_files_ = true;
};

// A range check: returns "" when the value is fine, else what is wrong ("must be at least 1").
using NumberCheck = std::function<std::string(double)>;
NumberCheck at_least(double lo);
NumberCheck in_range(double lo, double hi);  // [lo, hi]: "must be between lo and hi"
NumberCheck positive_finite();
NumberCheck in_unit_interval_open_right();  // [0, 1)
NumberCheck non_negative();

class MapReader {
public:
    // `where` locates the mapping for "missing key" messages (its key in the parent), when known.
    MapReader(Problems & problems, const YAML::Node & node, std::string path, bool allow_null = false,
              SourceLoc where = {});

    bool ok() const { return ok_; }
    bool has(const std::string & key) const;
    YAML::Node raw(const std::string & key);  // marks `key` as known
    SourceLoc key_loc(const std::string & key) const;
    SourceLoc value_loc(const std::string & key) const;
    SourceLoc loc() const { return problems_.loc(node_, path_); }
    std::string child_path(const std::string & key) const { return path_.empty() ? key : path_ + "." + key; }

    double number(const std::string & key, double fallback, const NumberCheck & check = {});
    int64_t integer(const std::string & key, int64_t fallback, const NumberCheck & check = {});
    bool boolean(const std::string & key, bool fallback);
    std::string string(const std::string & key, const std::string & fallback);
    // One of `choices` (aliases map to a canonical name); `what` names the kind of thing in messages.
    std::string choice(const std::string & key, const std::string & fallback,
                       const std::vector<std::string> & choices, const std::string & what,
                       const std::map<std::string, std::string> & aliases = {});
    std::vector<std::string> strings(const std::string & key);
    // At most `max_count` of them (a shape has a handful of axes, not a million).
    std::vector<int64_t> integers(const std::string & key, const NumberCheck & check = {},
                                  size_t max_count = 8);
    void require(const std::string & key);
    void finish();  // reports keys that were never read, with "did you mean"

private:
    std::optional<YAML::Node> get(const std::string & key);

    Problems & problems_;
    YAML::Node node_;
    SourceLoc where_;
    std::string path_;
    std::vector<std::string> known_;
    bool ok_ = true;
};

// Reads a scalar node with a type check; problems are added, not thrown.
std::optional<double> read_number(Problems & p, const YAML::Node & n, const std::string & path);
std::optional<std::string> read_string(Problems & p, const YAML::Node & n, const std::string & path);

// The limits of a spec file (README "The spec"): its size, and how deep its mappings and lists may nest.
// yaml-cpp parses recursively, so the depth is checked on its events before any node is built. 1 MiB: a valid
// spec renders to at most 60,000 bytes (kMaxRenderedSpecBytes), and yaml-cpp takes about 100 bytes of memory
// and 1 us per byte of YAML (a 2.4 MB spec: 260 MB, 1.4 s), so a larger file is refused before it is parsed.
constexpr size_t kMaxSpecBytes = 1u << 20;
constexpr int kMaxYamlDepth = 64;
// Parses YAML text (a spec, or a --set value) into nodes: invalid UTF-8, nesting deeper than kMaxYamlDepth
// and syntax errors become problems with file:line:col; returns an undefined node then.
YAML::Node load_yaml(Problems & problems, const std::string & text);

// Applies KEY=VALUE overrides to a YAML tree (dotted paths, list indices); returns path -> original text.
std::map<std::string, std::string> apply_overrides(YAML::Node & root,
                                                   const std::vector<std::string> & overrides);

}  // namespace dl
