#include <fmt/format.h>

#include "commands.h"
#include "core/text.h"
#include "io/model_labels.h"
#include "releases.h"
#include "report.h"

namespace dlctl {

namespace {

struct HistoryOptions {
    std::string model_dir, runs, label;
    int64_t last = 0;
    bool json = false;
};

void run_history(const HistoryOptions & o) {
    const std::string dir = model_directory(o.model_dir, o.runs);
    std::vector<dl::HistoryEntry> entries = dl::read_history(dir);
    if (!o.label.empty())
        std::erase_if(entries, [&](const dl::HistoryEntry & e) { return e.label != o.label; });
    if (o.last > 0 && static_cast<int64_t>(entries.size()) > o.last)
        entries.erase(entries.begin(), entries.end() - o.last);
    if (o.json) {
        nlohmann::ordered_json j = nlohmann::ordered_json::array();
        for (const dl::HistoryEntry & e : entries) j.push_back(e.to_json());
        print_json(j);
        return;
    }
    if (entries.empty()) {
        fmt::print("no label changes in {}\n", o.model_dir);
        return;
    }
    fmt::print("{:<21} {:<12} {:<15} {:<10} {:>5} {:>5}  {}\n", "TIME", "USER", "ACTION", "LABEL", "FROM",
               "TO", "REASON");
    for (const dl::HistoryEntry & e : entries)
        fmt::print("{:<21} {:<12} {:<15} {:<10} {:>5} {:>5}  {}\n", e.time, dl::printable(e.user),
                   dl::printable(e.action), dl::printable(e.label), version_text(e.from), version_text(e.to),
                   dl::printable(e.reason));
}

}  // namespace

void setup_history(CLI::App & app, const char * name, const char * summary) {
    auto o = std::make_shared<HistoryOptions>();
    CLI::App * sub = app.add_subcommand(name, summary);
    add_model_dir_options(sub, o->model_dir, o->runs);
    sub->add_option("--label", o->label, "only this label's changes");
    sub->add_option("--last", o->last, "only the last N changes")->check(CLI::PositiveNumber);
    sub->add_flag(
        "--json", o->json,
        "print the entries as a JSON array (time, user, host, action, label, from, to, reason, digests)");
    sub->callback([o] { run_history(*o); });
}

}  // namespace dlctl
