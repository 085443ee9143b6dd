#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <regex>

#include "commands.h"
#include "core/text.h"
#include "model/classification_report.h"
#include "model/session.h"
#include "model/trained_model.h"
#include "report.h"

namespace dlctl {

namespace {

struct EvalOptions {
    std::string model, against, data, split = "test", runs;
    std::vector<std::string> gates;
    bool json = false;
};

// The one place eval turns a model reference into a loaded model.
dl::TrainedModel load_model(const std::string & ref, const std::string & runs_flag) {
    return dl::load_trained(dl::resolve_model(ref, dl::runs_root(runs_flag)));
}

// METRIC OP EXPR, where EXPR is a number, `baseline`, or `baseline` then `*`, `+` or `-` and a number.
struct Gate {
    std::string metric, op, text;
    bool against_baseline = false;
    char combine = 0;  // '*', '+', '-', or 0 for `baseline` alone
    double value = 0;

    double threshold(double baseline) const {
        if (!against_baseline) return value;
        if (combine == '*') return baseline * value;
        if (combine == '+') return baseline + value;
        if (combine == '-') return baseline - value;
        return baseline;
    }
    bool holds(double v, double limit) const {
        if (op == ">=") return v >= limit;
        if (op == "<=") return v <= limit;
        if (op == ">") return v > limit;
        return v < limit;
    }
};

double parse_number(const std::string & gate, const std::string & text) {
    size_t used = 0;
    double v = 0;
    try {
        v = std::stod(text, &used);
    } catch (...) {
        used = 0;
    }
    if (used == 0 || used != text.size() || !std::isfinite(v))
        throw dl::Error(dl::ExitCode::usage, fmt::format("--gate '{}': '{}' is not a number", gate, text));
    return v;
}

Gate parse_gate(const std::string & text, bool have_baseline) {
    // The metric is anything up to the operator, so per-class names such as `f1.Iris-setosa` fit.
    static const std::regex re(R"(\s*([^<>=\s](?:[^<>=]*[^<>=\s])?)\s*(>=|<=|>|<)\s*(\S(?:.*\S)?)\s*)");
    static const std::regex relative(R"(baseline\s*(?:([*+-])\s*(\S+))?)");
    std::smatch m, r;
    if (!std::regex_match(text, m, re))
        throw dl::Error(dl::ExitCode::usage,
                        fmt::format("--gate '{}': expected METRIC OP VALUE, e.g. 'accuracy>=0.9' or "
                                    "'mae<=baseline*1.02' (OP: >=, <=, >, <)",
                                    text));
    Gate g{m[1], m[2], text};
    const std::string expr = m[3];
    if (std::regex_match(expr, r, relative)) {
        if (!have_baseline)
            throw dl::Error(
                dl::ExitCode::usage,
                fmt::format("--gate '{}' compares with a baseline: add --against BASELINE (a model "
                            "to score on the same rows)",
                            text));
        g.against_baseline = true;
        if (r[1].matched) {
            g.combine = r[1].str()[0];
            g.value = parse_number(text, r[2]);
        }
    } else if (expr.find("baseline") != std::string::npos) {
        throw dl::Error(
            dl::ExitCode::usage,
            fmt::format("--gate '{}': expected baseline, baseline*K, baseline+K or baseline-K", text));
    } else {
        g.value = parse_number(text, expr);
    }
    return g;
}

// One model scored on a set of rows: its loss and metrics, and for a classifier the classification report.
struct Scored {
    std::string name;
    int64_t version = 0;
    std::map<std::string, double> metrics;  // loss, accuracy|mae|mse...
    std::optional<dl::ClassificationReport> report;

    // What --gate can name, in display order: loss, the spec's metrics, then the report's.
    std::vector<std::pair<std::string, double>> gate_metrics() const {
        std::vector<std::pair<std::string, double>> out{{"loss", metrics.at("loss")}};
        for (auto & [k, v] : metrics)
            if (k != "loss") out.emplace_back(k, v);
        if (!report) return out;
        const dl::ClassificationReport & r = *report;
        out.emplace_back("macro_precision", r.macro.precision);
        out.emplace_back("macro_recall", r.macro.recall);
        out.emplace_back("macro_f1", r.macro.f1);
        for (size_t c = 0; c < r.classes.size(); ++c) {
            out.emplace_back("precision." + r.classes[c], r.per_class[c].precision);
            out.emplace_back("recall." + r.classes[c], r.per_class[c].recall);
            out.emplace_back("f1." + r.classes[c], r.per_class[c].f1);
        }
        return out;
    }
};

Scored score(dl::TrainedModel & m, const dl::Table & table, const std::vector<int64_t> & rows) {
    Scored s{m.run.name, m.run.version};
    dl::ModelSession session(m.spec, m.info, m.params, dl::ThreadPool::hardware_threads());
    std::vector<int32_t> predicted;
    s.metrics = session.evaluate(table, rows, &predicted).means();
    if (m.info.classification) {
        std::vector<int32_t> truth;
        truth.reserve(rows.size());
        for (int64_t row : rows) truth.push_back(table.labels[static_cast<size_t>(row)]);
        s.report = dl::classification_report(m.classes, truth, predicted);
    }
    return s;
}

nlohmann::ordered_json scores_json(const dl::ClassScores & s) {
    return {{"precision", s.precision}, {"recall", s.recall}, {"f1", s.f1}, {"support", s.support}};
}

nlohmann::ordered_json eval_json(const Scored & s, const std::string & split, size_t samples) {
    nlohmann::ordered_json j;
    j["model"] = s.name;
    j["version"] = s.version;
    j["split"] = split;
    j["samples"] = static_cast<int64_t>(samples);
    nlohmann::ordered_json mj;
    mj["loss"] = s.metrics.at("loss");
    for (auto & [k, v] : s.metrics)
        if (k != "loss") mj[k] = v;
    j["metrics"] = mj;
    if (s.report) {
        const dl::ClassificationReport & r = *s.report;
        nlohmann::ordered_json classes = nlohmann::ordered_json::object();
        for (size_t c = 0; c < r.classes.size(); ++c) classes[r.classes[c]] = scores_json(r.per_class[c]);
        j["classes"] = classes;
        j["macro"] = scores_json(r.macro);
        j["confusion_matrix"] = {{"labels", r.classes}, {"matrix", r.confusion}};
    }
    return j;
}

std::string shown(const std::string & name) { return dl::printable(name); }

void print_report(const dl::ClassificationReport & r) {
    size_t w = std::string("macro").size();
    for (const std::string & c : r.classes) w = std::max(w, dl::printable_width(shown(c)));
    const auto pad = [](const std::string & s, size_t width) {
        const size_t used = dl::printable_width(s);
        return s + std::string(width > used ? width - used : 0, ' ');
    };
    fmt::print("\n{} {:<10} {:<10} {:<10} {}\n", pad("class", w), "precision", "recall", "f1", "support");
    const auto row = [&](const std::string & name, const dl::ClassScores & s) {
        fmt::print("{} {:<10} {:<10} {:<10} {}\n", pad(name, w), format_value(s.precision),
                   format_value(s.recall), format_value(s.f1), s.support);
    };
    for (size_t c = 0; c < r.classes.size(); ++c) row(shown(r.classes[c]), r.per_class[c]);
    row("macro", r.macro);

    fmt::print("\nconfusion matrix (rows: true class, columns: predicted class)\n");
    std::vector<size_t> widths;
    for (size_t c = 0; c < r.classes.size(); ++c) {
        size_t cw = dl::printable_width(shown(r.classes[c]));
        for (size_t t = 0; t < r.classes.size(); ++t)
            cw = std::max(cw, std::to_string(r.confusion[t][c]).size());
        widths.push_back(cw);
    }
    fmt::print("{}", pad("", w));
    for (size_t c = 0; c < r.classes.size(); ++c) fmt::print(" {}", pad(shown(r.classes[c]), widths[c]));
    fmt::print("\n");
    for (size_t t = 0; t < r.classes.size(); ++t) {
        fmt::print("{}", pad(shown(r.classes[t]), w));
        for (size_t c = 0; c < r.classes.size(); ++c) fmt::print(" {:>{}}", r.confusion[t][c], widths[c]);
        fmt::print("\n");
    }
}

std::string signed_value(double v) { return (v >= 0 ? "+" : "") + format_value(v); }

void run_eval(const EvalOptions & o) {
    const bool against = !o.against.empty();
    std::vector<Gate> gates;
    for (const std::string & g : o.gates) gates.push_back(parse_gate(g, against));

    dl::TrainedModel m = load_model(o.model, o.runs);
    const dl::RunRef run = m.run;
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
    const Scored candidate = score(m, table, rows);

    // Note [baseline rows]: the baseline is scored on the candidate's rows: the candidate's data (or --data)
    // read with the baseline's normalisation and class names, and the candidate's split of it, whatever
    // data and split the baseline was trained with.
    std::optional<Scored> baseline;
    if (against) {
        dl::TrainedModel b = load_model(o.against, o.runs);
        if (b.info.classification != m.info.classification)
            throw dl::Error(
                dl::ExitCode::usage,
                fmt::format("--against {}: {}@{} is a {} and {}@{} a {}; they cannot be compared", o.against,
                            run.name, run.version, m.info.classification ? "classifier" : "regression model",
                            b.run.name, b.run.version,
                            b.info.classification ? "classifier" : "regression model"));
        const dl::Table baseline_table = dl::load_table_for(b, m.spec.data, o.data);
        DL_CHECK(baseline_table.rows() == table.rows(), dl::ExitCode::internal,
                 "the same data read {} rows for the candidate and {} for the baseline", table.rows(),
                 baseline_table.rows());
        baseline = score(b, baseline_table, rows);
    }

    const auto candidate_metrics = candidate.gate_metrics();
    std::map<std::string, double> measured(candidate_metrics.begin(), candidate_metrics.end());
    std::map<std::string, double> reference;
    if (baseline)
        for (auto & [k, v] : baseline->gate_metrics()) reference[k] = v;

    nlohmann::ordered_json gate_results = nlohmann::ordered_json::array();
    std::vector<std::string> failed;
    for (const Gate & g : gates) {
        auto it = measured.find(g.metric);
        if (it == measured.end()) {
            std::vector<std::string> names;
            for (auto & [k, v] : candidate_metrics) names.push_back(k);
            const std::string close = dl::closest_match(g.metric, names);
            throw dl::Error(dl::ExitCode::usage,
                            fmt::format("--gate '{}': no metric '{}' (metrics: {}){}", g.text, g.metric,
                                        fmt::join(names, ", "),
                                        close.empty() ? "" : fmt::format("; did you mean '{}'?", close)));
        }
        double base = 0;
        if (g.against_baseline) {
            auto b = reference.find(g.metric);
            if (b == reference.end())
                throw dl::Error(dl::ExitCode::usage,
                                fmt::format("--gate '{}': the baseline {}@{} has no metric '{}'", g.text,
                                            baseline->name, baseline->version, g.metric));
            base = b->second;
        }
        const double limit = g.threshold(base);
        const bool holds = g.holds(it->second, limit);
        nlohmann::ordered_json gj{{"gate", g.text}, {"metric", g.metric}, {"candidate", it->second}};
        if (g.against_baseline) gj["baseline"] = base;
        gj["threshold"] = limit;
        gj["passed"] = holds;
        gate_results.push_back(gj);
        if (holds) continue;
        if (g.against_baseline)
            failed.push_back(
                fmt::format("gate failed: {} (measured {} = {}; baseline {}@{} = {}, threshold {})", g.text,
                            g.metric, format_value(it->second), baseline->name, baseline->version,
                            format_value(base), format_value(limit)));
        else
            failed.push_back(fmt::format("gate failed: {} (measured {} = {})", g.text, g.metric,
                                         format_value(it->second)));
    }

    if (o.json && !baseline) {
        print_json(eval_json(candidate, split, rows.size()));
    } else if (o.json) {
        nlohmann::ordered_json j;
        j["split"] = split;
        j["samples"] = static_cast<int64_t>(rows.size());
        j["candidate"] = eval_json(candidate, split, rows.size());
        j["baseline"] = eval_json(*baseline, split, rows.size());
        nlohmann::ordered_json difference = nlohmann::ordered_json::object();
        for (auto & [k, v] : candidate_metrics)
            if (reference.count(k)) difference[k] = v - reference.at(k);
        j["difference"] = difference;
        j["gates"] = gate_results;
        print_json(j);
    } else if (!baseline) {
        fmt::print("{}@{} on {} ({} samples)\n", run.name, run.version, split, rows.size());
        fmt::print("{:<12} {}\n", "loss", format_value(candidate.metrics.at("loss")));
        for (auto & [k, v] : candidate.metrics)
            if (k != "loss") fmt::print("{:<12} {}\n", k, format_value(v));
        if (candidate.report) print_report(*candidate.report);
    } else {
        fmt::print("{}@{} (candidate) against {}@{} (baseline) on {} of {}@{} ({} samples)\n", run.name,
                   run.version, baseline->name, baseline->version, split, run.name, run.version, rows.size());
        size_t w = std::string("metric").size();
        for (auto & [k, v] : candidate_metrics) w = std::max(w, dl::printable_width(shown(k)));
        fmt::print("{:<{}} {:<12} {:<12} {}\n", "metric", w, "candidate", "baseline", "difference");
        for (auto & [k, v] : candidate_metrics) {
            auto b = reference.find(k);
            const std::string name = shown(k);
            fmt::print("{}{} {:<12} {:<12} {}\n", name, std::string(w - dl::printable_width(name), ' '),
                       format_value(v), b == reference.end() ? "-" : format_value(b->second),
                       b == reference.end() ? "-" : signed_value(v - b->second));
        }
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
    sub->add_option(
        "--against", o->against,
        "a baseline model scored on the same rows (the candidate's split of its data, or --data); "
        "printed side by side, and gates may name 'baseline'");
    sub->add_option("--data", o->data,
                    "evaluate on every row of this CSV (same columns; the saved normalisation is applied)");
    sub->add_option("--split", o->split, "which split of the training data")
        ->check(CLI::IsMember({"test", "validation", "train"}));
    sub->add_option(
        "--gate", o->gates,
        "fail with exit code 3 unless, e.g., 'accuracy>=0.9', 'macro_f1>=0.8' or, with --against, "
        "'mae<=baseline*1.02' (>=, <=, >, <; baseline, baseline*K, baseline+K, baseline-K); "
        "repeatable");
    sub->add_option("--runs", o->runs, "root folder of versioned runs (default: $DLCTL_RUNS, else ./runs)");
    sub->add_flag("--json", o->json, "print one JSON object on stdout");
    sub->callback([o] { run_eval(*o); });
}

}  // namespace dlctl
