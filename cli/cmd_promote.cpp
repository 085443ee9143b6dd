#include <fmt/format.h>

#include "commands.h"
#include "core/error.h"
#include "io/model_labels.h"
#include "releases.h"
#include "report.h"

namespace dlctl {

namespace {

struct PromoteOptions {
    std::string model_dir, runs, reason, from = "canary", to = "stable";
    bool keep = false, json = false;
};

void run_promote(const PromoteOptions & o) {
    const std::string dir = model_directory(o.model_dir, o.runs);
    if (o.from == o.to)
        throw dl::Error(dl::ExitCode::usage, fmt::format("--from and --to are both '{}'", o.from));
    const dl::LabelSet before = dl::read_labels_file(dir);
    if (!before.version_of(o.from))
        throw dl::Error(dl::ExitCode::usage,
                        fmt::format("{}: no label '{}' to promote (labels: {})", o.model_dir, o.from,
                                    before.versions.empty() ? "none" : dl::render_labels(before)));
    loadable_version(dir, std::to_string(*before.version_of(o.from)));
    int64_t promoted = 0;
    std::optional<int64_t> replaced;
    const dl::LabelSet after =
        dl::change_labels(dir, [&](dl::LabelSet & labels, std::vector<dl::HistoryEntry> & log) {
            const std::optional<int64_t> version = labels.version_of(o.from);
            if (!version)  // changed by another process since it was checked
                throw dl::Error(dl::ExitCode::usage,
                                fmt::format("{}: label '{}' was removed meanwhile", o.model_dir, o.from));
            promoted = *version;
            replaced = labels.version_of(o.to);
            dl::HistoryEntry e{
                .action = "promote", .label = o.to, .from = replaced, .to = promoted, .reason = o.reason};
            e.details["promoted_from_label"] = o.from;
            log.push_back(e);
            labels.versions[o.to] = promoted;
            if (!o.keep) {
                labels.versions.erase(o.from);
                log.push_back(
                    {.action = "remove", .label = o.from, .from = promoted, .reason = "promoted to " + o.to});
                if (o.from == "canary") {
                    labels.canary_percent.reset();
                    labels.shadow = false;
                }
            }
        });
    if (o.json) {
        print_json(nlohmann::ordered_json::parse(dl::render_labels(after)));
        return;
    }
    fmt::print("{}: {} -> {} (from {}{})\n", o.to, version_text(replaced), promoted, o.from,
               o.keep ? "" : fmt::format(", which is removed"));
}

}  // namespace

void setup_promote(CLI::App & app, const char * name, const char * summary) {
    auto o = std::make_shared<PromoteOptions>();
    CLI::App * sub = app.add_subcommand(name, summary);
    add_model_dir_options(sub, o->model_dir, o->runs);
    sub->add_option("--from", o->from, "the label whose version is promoted")->capture_default_str();
    sub->add_option("--to", o->to, "the label that takes it")->capture_default_str();
    sub->add_flag("--keep", o->keep,
                  "keep the --from label (by default it is removed, and with it the canary's traffic share)");
    sub->add_option("--reason", o->reason, "why, for history.jsonl");
    sub->add_flag("--json", o->json, "print the labels file as written");
    sub->callback([o] { run_promote(*o); });
}

}  // namespace dlctl
