#include <fmt/format.h>

#include "commands.h"
#include "core/fs.h"
#include "core/text.h"
#include "io/runs.h"
#include "model/trained_model.h"
#include "report.h"
#include "spec/spec_diff.h"

namespace dlctl {

namespace {

struct DiffOptions {
    std::string a, b, runs;
    bool json = false;
};

struct Version {
    dl::RunRef run;
    std::string spec_yaml;  // the resolved spec, as `dlctl render` prints it
    nlohmann::json meta;    // {} when the version has none
};

// The one place diff turns a model reference into a version.
Version load_version(const std::string & ref, const std::string & runs_flag) {
    Version v;
    v.run = dl::resolve_model(ref, dl::runs_root(runs_flag));
    // An export carries no meta.json: its run's, when this machine has that run.
    const std::string meta_dir = v.run.exported && !v.run.trained_in.empty() ? v.run.trained_in : v.run.dir;
    v.meta = dl::read_meta(meta_dir);
    const std::string spec_path = meta_dir + "/spec.yaml";
    v.spec_yaml = dl::file_exists(spec_path) ? dl::read_file(spec_path) : dl::load_trained(v.run).spec_yaml;
    return v;
}

std::string label(const Version & v) { return fmt::format("{}@{}", v.run.name, v.run.version); }

// What meta.json says of where a version comes from: everything but its name, version, final metrics and
// error (so a key a later dlctl records, such as a parent version, shows up without a change here).
nlohmann::ordered_json lineage(const nlohmann::json & meta) {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    for (const char * key : {"status", "created", "updated", "spec_sha256", "data_sha256", "git",
                             "dlctl_version", "device", "threads", "epochs", "seconds"})
        if (meta.contains(key)) out[key] = meta[key];
    for (auto & [key, value] : meta.items())
        if (!out.contains(key) && key != "name" && key != "version" && key != "metrics" && key != "error")
            out[key] = value;
    return out;
}

std::string scalar_text(const nlohmann::ordered_json & v) {
    if (v.is_string()) return dl::printable(v.get<std::string>());
    if (v.is_number_float()) return format_value(v.get<double>());
    return dl::printable(v.dump());
}

nlohmann::ordered_json version_json(const Version & v) {
    return {{"model", v.run.name}, {"version", v.run.version}, {"run_dir", v.run.dir}};
}

void run_diff(const DiffOptions & o) {
    const Version a = load_version(o.a, o.runs), b = load_version(o.b, o.runs);

    const std::vector<dl::SpecChange> spec_changes =
        dl::diff_spec_yaml(a.spec_yaml, b.spec_yaml, a.run.dir + "/spec.yaml", b.run.dir + "/spec.yaml");

    const nlohmann::json empty = nlohmann::json::object();
    const nlohmann::json & ma = a.meta.contains("metrics") ? a.meta["metrics"] : empty;
    const nlohmann::json & mb = b.meta.contains("metrics") ? b.meta["metrics"] : empty;
    nlohmann::ordered_json metrics = nlohmann::ordered_json::object();
    bool metrics_same = true;
    std::vector<std::string> metric_names;
    for (auto & [k, v] : ma.items()) metric_names.push_back(k);
    for (auto & [k, v] : mb.items())
        if (!ma.contains(k)) metric_names.push_back(k);
    for (const std::string & k : metric_names) {
        nlohmann::ordered_json m{{"a", ma.contains(k) ? ma[k] : nullptr},
                                 {"b", mb.contains(k) ? mb[k] : nullptr}};
        if (ma.contains(k) && mb.contains(k) && ma[k].is_number() && mb[k].is_number())
            m["difference"] = mb[k].get<double>() - ma[k].get<double>();
        else
            m["difference"] = nullptr;
        if (m["a"] != m["b"]) metrics_same = false;
        metrics[k] = m;
    }

    const nlohmann::ordered_json data_a = a.meta.contains("data_sha256") ? a.meta["data_sha256"] : nullptr;
    const nlohmann::ordered_json data_b = b.meta.contains("data_sha256") ? b.meta["data_sha256"] : nullptr;
    const bool data_same = data_a == data_b;
    const nlohmann::ordered_json lineage_a = lineage(a.meta), lineage_b = lineage(b.meta);
    const bool same = spec_changes.empty() && data_same && metrics_same;

    if (o.json) {
        nlohmann::ordered_json j;
        j["a"] = version_json(a);
        j["b"] = version_json(b);
        j["same"] = same;
        nlohmann::ordered_json changes = nlohmann::ordered_json::array();
        for (const dl::SpecChange & c : spec_changes)
            changes.push_back({{"key", c.key},
                               {"a", c.a ? nlohmann::ordered_json(*c.a) : nlohmann::ordered_json(nullptr)},
                               {"b", c.b ? nlohmann::ordered_json(*c.b) : nlohmann::ordered_json(nullptr)}});
        j["spec"] = {{"same", spec_changes.empty()}, {"changes", changes}};
        j["metrics"] = {{"same", metrics_same}, {"values", metrics}};
        j["data"] = {{"same", data_same}, {"a", data_a}, {"b", data_b}};
        j["lineage"] = {{"a", lineage_a}, {"b", lineage_b}};
        print_json(j);
        return;
    }

    fmt::print("{} -> {}{}\n", label(a), label(b), same ? ": same spec, data and metrics" : "");
    if (spec_changes.empty()) {
        fmt::print("spec: same\n");
    } else {
        fmt::print("spec: {} key{} differ{}\n", spec_changes.size(), spec_changes.size() == 1 ? "" : "s",
                   spec_changes.size() == 1 ? "s" : "");
        for (const dl::SpecChange & c : spec_changes)
            fmt::print("  {}: {} -> {}\n", dl::printable(c.key), c.a ? dl::printable(*c.a) : "(none)",
                       c.b ? dl::printable(*c.b) : "(none)");
    }
    if (metrics.empty()) {
        fmt::print("metrics: none recorded\n");
    } else {
        fmt::print("metrics:{}\n", metrics_same ? " same" : "");
        for (auto & [k, m] : metrics.items()) {
            const std::string va = m["a"].is_null() ? "(none)" : scalar_text(m["a"]);
            const std::string vb = m["b"].is_null() ? "(none)" : scalar_text(m["b"]);
            if (m["a"] == m["b"])
                fmt::print("  {}: {}\n", dl::printable(k), va);
            else if (m["difference"].is_null())
                fmt::print("  {}: {} -> {}\n", dl::printable(k), va, vb);
            else
                fmt::print("  {}: {} -> {} ({}{})\n", dl::printable(k), va, vb,
                           m["difference"].get<double>() >= 0 ? "+" : "",
                           format_value(m["difference"].get<double>()));
        }
    }
    const auto digest = [](const nlohmann::ordered_json & d) {
        return d.is_string() ? "sha256:" + dl::printable(d.get<std::string>())
                             : std::string("(not recorded)");
    };
    if (data_same)
        fmt::print("data: same ({})\n", digest(data_a));
    else
        fmt::print("data: {} -> {}\n", digest(data_a), digest(data_b));
    fmt::print("lineage:\n");
    std::vector<std::string> keys;
    for (auto & [k, v] : lineage_a.items()) keys.push_back(k);
    for (auto & [k, v] : lineage_b.items())
        if (!lineage_a.contains(k)) keys.push_back(k);
    for (const std::string & k : keys) {
        const std::string va = lineage_a.contains(k) ? scalar_text(lineage_a[k]) : "(none)";
        const std::string vb = lineage_b.contains(k) ? scalar_text(lineage_b[k]) : "(none)";
        if (va == vb)
            fmt::print("  {}: {}\n", dl::printable(k), va);
        else
            fmt::print("  {}: {} -> {}\n", dl::printable(k), va, vb);
    }
}

}  // namespace

void setup_diff(CLI::App & app, const char * name, const char * summary) {
    auto o = std::make_shared<DiffOptions>();
    CLI::App * sub = app.add_subcommand(name, summary);
    sub->add_option("a", o->a, "a run directory, NAME@VERSION or NAME@latest")->required();
    sub->add_option("b", o->b, "the version to compare it with")->required();
    sub->add_option("--runs", o->runs, "root folder of versioned runs (default: $DLCTL_RUNS, else ./runs)");
    sub->add_flag("--json", o->json, "print one JSON object on stdout");
    sub->callback([o] { run_diff(*o); });
}

}  // namespace dlctl
