// A model directory's releases (Note [labels and history] in model_labels.cpp): which version each label names,
// how much traffic the canary gets, and the audit trail of every change.
//   MODEL_DIR/labels.json    {"stable": 3, "canary": 4, "canary_percent": 10}   what serve routes by
//   MODEL_DIR/history.jsonl  one JSON object per change, appended under a lock, never rewritten
//
//   LabelSet now = change_labels("export/housing", [&](LabelSet & labels, std::vector<HistoryEntry> & log) {
//       log.push_back({.action = "label", .label = "stable", .from = labels.version_of("stable"), .to = 4,
//                      .reason = "beats 3 on mae"});
//       labels.versions["stable"] = 4;
//   });
//   for (const HistoryEntry & e : read_history("export/housing")) ...
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dl {

inline constexpr const char * kLabelsFile = "labels.json";
inline constexpr const char * kHistoryFile = "history.jsonl";

struct LabelSet {
    std::map<std::string, int64_t> versions;  // label -> version
    // Of the requests that name no version or label, the share sent to the `canary` label's version; absent:
    // serve's --canary-percent.
    std::optional<double> canary_percent;
    bool shadow = false;  // the canary gets a copy of its share; its answers are compared, never returned

    std::optional<int64_t> version_of(const std::string & label) const;
    bool operator==(const LabelSet &) const = default;
};

// Label names: 1 to 64 of [A-Za-z0-9._-], not a number and not `latest` (both mean versions).
bool is_label_name(std::string_view name);

// labels.json as text: Error(bad_input, "PATH: why") for anything that must never move traffic: not a JSON
// object, a bad label name or version, canary_percent outside [0, 100], an unknown key that is a typo of a
// known one, or a label that looks like a typo of a label `previous` had and this file dropped ("stabel" for
// "stable": did you mean 'stable'?).
LabelSet parse_labels(std::string_view text, const std::string & path, const LabelSet * previous = nullptr);
std::string render_labels(const LabelSet & labels);
// MODEL_DIR/labels.json, or an empty set when there is none.
LabelSet read_labels_file(const std::string & model_dir);

// A new label name that is one typo away from a label in `existing` or from `stable` / `canary`: the label it
// was probably meant to be, else "".
std::string label_typo_of(const std::string & name, const LabelSet & existing);

struct HistoryEntry {
    std::string time, user, host;  // filled in by change_labels
    std::string action;            // label, promote, rollback, remove, canary_percent, rollout
    std::string label;
    std::optional<int64_t> from, to;  // the label's version before and after
    std::string reason;
    nlohmann::ordered_json details = nlohmann::ordered_json::object();  // e.g. canary_percent, breach
    // version -> "sha256:<hex>" of its model file, for `from` and `to` (filled in by change_labels)
    std::map<int64_t, std::string> digests;

    nlohmann::ordered_json to_json() const;
};

// Every entry of MODEL_DIR/history.jsonl, oldest first (none when it is missing). A torn last line (a crash
// while appending) is skipped; any other line that is not an entry is Error(bad_input, "PATH:LINE: why").
std::vector<HistoryEntry> read_history(const std::string & model_dir);

// The version `label` had before its current one, undoing earlier rollbacks (a second rollback goes further
// back, not forth); nullopt when the history has none.
std::optional<int64_t> previous_version(const std::vector<HistoryEntry> & history, const std::string & label);

// Holds MODEL_DIR/.labels.lock (flock) for a read-modify-write of labels.json: `edit` changes the labels and
// fills in the entries to record (none: nothing is written). The entries are appended to history.jsonl and
// fsync'd, then labels.json is replaced atomically. Concurrent changes from any number of processes are
// serialised: none is lost. Returns the labels as written.
using LabelEdit = std::function<void(LabelSet & labels, std::vector<HistoryEntry> & entries)>;
LabelSet change_labels(const std::string & model_dir, const LabelEdit & edit);

}  // namespace dl
