#include <fmt/format.h>

#include "commands.h"
#include "io/runs.h"
#include "report.h"

namespace dlctl {

namespace {

struct RunsOptions {
    std::string name, runs;
    bool json = false;
};

void run_runs(const RunsOptions & o) {
    const std::string root = dl::runs_root(o.runs);
    std::vector<std::string> names =
        o.name.empty() ? dl::list_model_names(root) : std::vector<std::string>{o.name};
    nlohmann::ordered_json all = nlohmann::ordered_json::array();
    for (const std::string & name : names) {
        for (int64_t v : dl::list_versions(root, name)) {
            const std::string dir = dl::version_dir(root, name, v);
            nlohmann::json meta;
            nlohmann::ordered_json j;
            j["name"] = name;
            j["version"] = v;
            try {
                meta = dl::read_meta(dir);
                j["status"] = meta.value("status", "unknown");
                j["created"] = meta.value("created", "");
                j["epochs"] = meta.value("epochs", int64_t{0});
            } catch (const std::exception & e) {  // one damaged meta.json does not hide the other runs
                meta = nlohmann::json::object();
                j["status"] = "unreadable";
                j["created"] = "";
                j["epochs"] = 0;
                meta["error"] = {{"message", e.what()}};
            }
            j["run_dir"] = dir;
            j["metrics"] = meta.contains("metrics") && meta["metrics"].is_object() ? meta["metrics"]
                                                                                   : nlohmann::json::object();
            // Why a failed run failed: {"exit_code", "message"} (Note [failed runs]).
            if (meta.contains("error") && meta["error"].is_object()) j["error"] = meta["error"];
            all.push_back(j);
        }
    }
    if (o.json) {
        print_json(all);
        return;
    }
    if (all.empty()) {
        fmt::print(stderr, "no runs under {}{}\n", root, o.name.empty() ? "" : " for " + o.name);
        return;
    }
    fmt::print("{:<24} {:>7} {:<12} {:>6}  {:<20}  {}\n", "NAME", "VERSION", "STATUS", "EPOCHS", "CREATED",
               "METRICS");
    for (auto & j : all) {
        std::string metrics;
        for (auto & [k, v] : j["metrics"].items())
            if (v.is_number()) metrics += fmt::format("{}={} ", k, format_value(v.get<double>()));
        if (j.contains("error")) {
            const nlohmann::json & error = j["error"];
            std::string message = error.value("message", "");
            if (message.size() > 160) message = message.substr(0, 157) + "...";
            for (char & c : message)
                if (static_cast<unsigned char>(c) < 0x20) c = ' ';
            metrics += error.contains("exit_code") && error["exit_code"].is_number_integer()
                           ? fmt::format("error (exit {}): {}", error["exit_code"].get<int>(), message)
                           : fmt::format("error: {}", message);
        }
        fmt::print("{:<24} {:>7} {:<12} {:>6}  {:<20}  {}\n", j["name"].get<std::string>(),
                   j["version"].get<int64_t>(), j["status"].get<std::string>(), j["epochs"].get<int64_t>(),
                   j["created"].get<std::string>(), metrics);
    }
}

}  // namespace

void setup_runs(CLI::App & app, const char * name, const char * summary) {
    auto o = std::make_shared<RunsOptions>();
    CLI::App * sub = app.add_subcommand(name, summary);
    sub->add_option("name", o->name, "only this model's versions");
    sub->add_option("--runs", o->runs, "root folder of versioned runs (default: $DLCTL_RUNS, else ./runs)");
    sub->add_flag("--json", o->json, "print a JSON array on stdout");
    sub->callback([o] { run_runs(*o); });
}

}  // namespace dlctl
