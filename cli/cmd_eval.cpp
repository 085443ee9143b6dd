#include <fmt/format.h>

#include <cmath>
#include <regex>

#include "commands.h"
#include "model/session.h"
#include "model/trained_model.h"
#include "report.h"

namespace dlctl {

namespace {

struct EvalOptions {
    std::string model, data, split = "test", runs;
    std::vector<std::string> gates;
    bool json = false;
};

struct Gate {
    std::string metric, op, text;
    double value = 0;
    bool holds(double v) const {
        if (op == ">=") return v >= value;
        if (op == "<=") return v <= value;
        if (op == ">") return v > value;
        return v < value;
    }
};

Gate parse_gate(const std::string & text) {
    static const std::regex re(R"(\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|>|<)\s*([-+0-9.eE]+)\s*)");
    std::smatch m;
    if (!std::regex_match(text, m, re))
        throw dl::Error(dl::ExitCode::usage,
                        fmt::format("--gate '{}': expected METRIC OP VALUE, e.g. 'accuracy>=0.9'", text));
    Gate g{m[1], m[2], text};
    try {
        g.value = std::stod(m[3]);
    } catch (...) {
        throw dl::Error(dl::ExitCode::usage,
                        fmt::format("--gate '{}': '{}' is not a number", text, m[3].str()));
    }
    return g;
}

void run_eval(const EvalOptions & o) {
    std::vector<Gate> gates;
    for (const std::string & g : o.gates) gates.push_back(parse_gate(g));
    const dl::RunRef run = dl::resolve_model(o.model, dl::runs_root(o.runs));
    dl::TrainedModel m = dl::load_trained(run);
    const dl::Table table = dl::load_table_for(m, o.data);
    std::vector<int64_t> rows;
    std::string split = o.data.empty() ? o.split : "data";
    if (o.data.empty()) {
        const dl::Splits s = dl::make_splits(table.rows(), m.spec.data, m.spec.seed, table.test_start);
        rows = o.split == "test" ? s.test : o.split == "validation" ? s.validation : s.train;
        if (rows.empty())
            throw dl::Error(
                dl::ExitCode::usage,
                fmt::format("{}@{} has no {} split (test_split/validation_split is 0); use --split or --data",
                            run.name, run.version, o.split));
    } else {
        for (int64_t i = 0; i < table.rows(); ++i) rows.push_back(i);
    }
    dl::ModelSession session(m.spec, m.info, m.params, dl::ThreadPool::hardware_threads());
    const auto metrics = session.evaluate(table, rows).means();

    std::vector<std::string> failed;
    for (const Gate & g : gates) {
        auto it = metrics.find(g.metric);
        if (it == metrics.end()) {
            std::vector<std::string> names;
            for (auto & [k, v] : metrics) names.push_back(k);
            const std::string close = dl::closest_match(g.metric, names);
            throw dl::Error(dl::ExitCode::usage,
                            fmt::format("--gate '{}': no metric '{}' (metrics: {}){}", g.text, g.metric,
                                        fmt::join(names, ", "),
                                        close.empty() ? "" : fmt::format("; did you mean '{}'?", close)));
        }
        if (!g.holds(it->second))
            failed.push_back(fmt::format("gate failed: {} (measured {} = {})", g.text, g.metric,
                                         format_value(it->second)));
    }
    if (o.json) {
        nlohmann::ordered_json j;
        j["model"] = run.name;
        j["version"] = run.version;
        j["split"] = split;
        j["samples"] = static_cast<int64_t>(rows.size());
        nlohmann::ordered_json mj;
        mj["loss"] = metrics.at("loss");
        for (auto & [k, v] : metrics)
            if (k != "loss") mj[k] = v;
        j["metrics"] = mj;
        print_json(j);
    } else {
        fmt::print("{}@{} on {} ({} samples)\n", run.name, run.version, split, rows.size());
        fmt::print("{:<12} {}\n", "loss", format_value(metrics.at("loss")));
        for (auto & [k, v] : metrics)
            if (k != "loss") fmt::print("{:<12} {}\n", k, format_value(v));
    }
    for (const std::string & f : failed) fmt::print(stderr, "dlctl: {}\n", f);
    if (!failed.empty())
        throw dl::Error(dl::ExitCode::gate_failed,
                        fmt::format("{} of {} quality gates failed", failed.size(), gates.size()));
}

}  // namespace

void setup_eval(CLI::App & app, const char * name, const char * summary) {
    auto o = std::make_shared<EvalOptions>();
    CLI::App * sub = app.add_subcommand(name, summary);
    sub->add_option("model", o->model, "a run directory, NAME@VERSION or NAME@latest")->required();
    sub->add_option("--data", o->data,
                    "evaluate on every row of this CSV (same columns; the saved normalisation is applied)");
    sub->add_option("--split", o->split, "which split of the training data")
        ->check(CLI::IsMember({"test", "validation", "train"}));
    sub->add_option("--gate", o->gates,
                    "fail with exit code 3 unless, e.g., 'accuracy>=0.9' (>=, <=, >, <); repeatable");
    sub->add_option("--runs", o->runs, "root folder of versioned runs (default: $DLCTL_RUNS, else ./runs)");
    sub->add_flag("--json", o->json, "print one JSON object on stdout");
    sub->callback([o] { run_eval(*o); });
}

}  // namespace dlctl
