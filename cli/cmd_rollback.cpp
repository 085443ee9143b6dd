#include <fmt/format.h>

#include "commands.h"
#include "core/error.h"
#include "io/model_labels.h"
#include "releases.h"
#include "report.h"

namespace dlctl {

namespace {

struct RollbackOptions {
    std::string model_dir, label = "stable", runs, reason;
    bool json = false;
};

void run_rollback(const RollbackOptions & o) {
    const std::string dir = model_directory(o.model_dir, o.runs);
    const std::optional<int64_t> target = dl::previous_version(dl::read_history(dir), o.label);
    if (!target)
        throw dl::Error(dl::ExitCode::usage,
                        fmt::format("{}: history.jsonl has no earlier version of label '{}' to roll back to "
                                    "(see `dlctl history {}`)",
                                    o.model_dir, o.label, o.model_dir));
    loadable_version(dir, std::to_string(*target));
    std::optional<int64_t> from;
    const dl::LabelSet after =
        dl::change_labels(dir, [&](dl::LabelSet & labels, std::vector<dl::HistoryEntry> & log) {
            // Decided again under the lock: another rollback may have run meanwhile.
            const std::optional<int64_t> now = dl::previous_version(dl::read_history(dir), o.label);
            if (now != target)
                throw dl::Error(dl::ExitCode::usage,
                                fmt::format("{}: label '{}' changed meanwhile; run rollback again",
                                            o.model_dir, o.label));
            from = labels.version_of(o.label);
            labels.versions[o.label] = *target;
            log.push_back(
                {.action = "rollback", .label = o.label, .from = from, .to = *target, .reason = o.reason});
        });
    if (o.json) {
        print_json(nlohmann::ordered_json::parse(dl::render_labels(after)));
        return;
    }
    fmt::print("{}: {} -> {} (rolled back)\n", o.label, version_text(from), *target);
}

}  // namespace

void setup_rollback(CLI::App & app, const char * name, const char * summary) {
    auto o = std::make_shared<RollbackOptions>();
    CLI::App * sub = app.add_subcommand(name, summary);
    add_model_dir_options(sub, o->model_dir, o->runs);
    sub->add_option("label", o->label, "the label to move back to its previous version")
        ->capture_default_str();
    sub->add_option("--reason", o->reason, "why, for history.jsonl");
    sub->add_flag("--json", o->json, "print the labels file as written");
    sub->callback([o] { run_rollback(*o); });
}

}  // namespace dlctl
