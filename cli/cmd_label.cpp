#include <fmt/format.h>

#include "commands.h"
#include "core/error.h"
#include "io/model_labels.h"
#include "releases.h"
#include "report.h"

namespace dlctl {

namespace {

struct LabelOptions {
    std::string model_dir, runs, reason;
    std::vector<std::string> assignments, removals;
    std::optional<double> canary_percent;
    std::optional<bool> shadow;
    bool new_label = false, json = false;
};

struct Assignment {
    std::string label;
    int64_t version = 0;
};

Assignment parse_assignment(const std::string & dir, const std::string & text, const dl::LabelSet & current,
                            bool new_label) {
    const size_t eq = text.find('=');
    const std::string label = text.substr(0, eq), which = eq == std::string::npos ? "" : text.substr(eq + 1);
    if (eq == std::string::npos || which.empty())
        throw dl::Error(dl::ExitCode::usage,
                        fmt::format("'{}': expected LABEL=VERSION, e.g. stable=3, canary=latest", text));
    if (!dl::is_label_name(label))
        throw dl::Error(dl::ExitCode::usage,
                        fmt::format("'{}' cannot be a label (1 to 64 of A-Z a-z 0-9 . _ -; not a number, not "
                                    "`latest`)",
                                    label));
    if (const std::string typo = dl::label_typo_of(label, current); !typo.empty() && !new_label)
        throw dl::Error(dl::ExitCode::usage,
                        fmt::format("no label '{}' yet: did you mean '{}'? (--new-label creates '{}')", label,
                                    typo, label));
    return {label, loadable_version(dir, which)};
}

void run_label(const LabelOptions & o) {
    const std::string dir = model_directory(o.model_dir, o.runs);
    if (o.assignments.empty() && o.removals.empty() && !o.canary_percent && !o.shadow)
        throw dl::Error(
            dl::ExitCode::usage,
            "nothing to change: give LABEL=VERSION, --remove LABEL, --canary-percent or --shadow");
    if (o.canary_percent && (*o.canary_percent < 0 || *o.canary_percent > 100))
        throw dl::Error(dl::ExitCode::usage,
                        fmt::format("--canary-percent must be in [0, 100], got {}", *o.canary_percent));
    // Versions are checked (they exist and load) before the lock is taken: loading may take a while.
    std::vector<Assignment> wanted;
    const dl::LabelSet before = dl::read_labels_file(dir);
    for (const std::string & a : o.assignments)
        wanted.push_back(parse_assignment(dir, a, before, o.new_label));
    std::vector<std::string> said;
    const dl::LabelSet after =
        dl::change_labels(dir, [&](dl::LabelSet & labels, std::vector<dl::HistoryEntry> & log) {
            for (const Assignment & a : wanted) {
                const std::optional<int64_t> from = labels.version_of(a.label);
                if (from == a.version) {
                    said.push_back(fmt::format("{} already names version {}", a.label, a.version));
                    continue;
                }
                labels.versions[a.label] = a.version;
                log.push_back(
                    {.action = "label", .label = a.label, .from = from, .to = a.version, .reason = o.reason});
                said.push_back(fmt::format("{}: {} -> {}", a.label, version_text(from), a.version));
            }
            for (const std::string & label : o.removals) {
                const std::optional<int64_t> from = labels.version_of(label);
                if (!from) {
                    said.push_back(fmt::format("no label '{}' to remove", label));
                    continue;
                }
                labels.versions.erase(label);
                log.push_back({.action = "remove", .label = label, .from = from, .reason = o.reason});
                said.push_back(fmt::format("{}: {} -> -", label, *from));
            }
            if (o.canary_percent && labels.canary_percent != o.canary_percent) {
                dl::HistoryEntry e{.action = "canary_percent",
                                   .label = "canary",
                                   .from = labels.version_of("canary"),
                                   .to = labels.version_of("canary"),
                                   .reason = o.reason};
                e.details["canary_percent"] = {{"from", labels.canary_percent.value_or(0)},
                                               {"to", *o.canary_percent}};
                log.push_back(e);
                said.push_back(fmt::format("canary_percent: {} -> {}", labels.canary_percent.value_or(0),
                                           *o.canary_percent));
                labels.canary_percent = *o.canary_percent;
            }
            if (o.shadow && labels.shadow != *o.shadow) {
                dl::HistoryEntry e{.action = "shadow",
                                   .label = "canary",
                                   .from = labels.version_of("canary"),
                                   .to = labels.version_of("canary"),
                                   .reason = o.reason};
                e.details["shadow"] = *o.shadow;
                log.push_back(e);
                said.push_back(fmt::format("shadow: {} -> {}", labels.shadow, *o.shadow));
                labels.shadow = *o.shadow;
            }
        });
    if (o.json) {
        nlohmann::ordered_json j = nlohmann::ordered_json::parse(dl::render_labels(after));
        print_json(j);
        return;
    }
    for (const std::string & line : said) fmt::print("{}\n", line);
}

}  // namespace

void setup_label(CLI::App & app, const char * name, const char * summary) {
    auto o = std::make_shared<LabelOptions>();
    CLI::App * sub = app.add_subcommand(name, summary);
    add_model_dir_options(sub, o->model_dir, o->runs);
    sub->add_option(
        "assignments", o->assignments,
        "LABEL=VERSION: VERSION is a number, `latest` or another label (canary=latest, stable=canary)");
    sub->add_option("--remove", o->removals, "take a label away; repeatable");
    sub->add_option("--canary-percent", o->canary_percent,
                    "share of unlabelled requests `serve` sends to the canary label (0 to 100)");
    sub->add_option("--shadow", o->shadow,
                    "true: the canary only shadows (gets a copy of its share, its answers compared, never "
                    "returned); false: it answers its share");
    sub->add_option("--reason", o->reason, "why, for history.jsonl");
    sub->add_flag("--new-label", o->new_label,
                  "create a label even if its name is one typo away from another");
    sub->add_flag("--json", o->json, "print the labels file as written");
    sub->callback([o] { run_label(*o); });
}

}  // namespace dlctl
