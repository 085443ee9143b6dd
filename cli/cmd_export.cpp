#include <fmt/format.h>

#include "commands.h"
#include "export/export.h"
#include "report.h"

namespace dlctl {

namespace {

struct ExportOptions {
    std::string model, out = "export", runs;
    std::vector<std::string> formats;
    bool json = false;
};

void run_export(const ExportOptions & o) {
    const std::vector<std::string> & known = dl::export_formats();
    for (const std::string & f : o.formats)
        if (std::find(known.begin(), known.end(), f) == known.end()) {
            const std::string close = dl::closest_match(f, known);
            throw dl::Error(dl::ExitCode::usage,
                            fmt::format("--format: no format '{}' (formats: {}){}", f, fmt::join(known, ", "),
                                        close.empty() ? "" : fmt::format("; did you mean '{}'?", close)));
        }
    const dl::ExportResult r = dl::export_model(o.model, dl::runs_root(o.runs), o.out, o.formats);
    for (auto & [format, why] : r.skipped) note(fmt::format("{} left out of the export: {}", format, why));
    if (o.json) {
        nlohmann::ordered_json j;
        j["path"] = r.path;
        j["name"] = r.name;
        j["version"] = r.version;
        j["formats"] = r.formats;
        print_json(j);
    } else {
        fmt::print("exported {}@{} to {} ({})\n", r.name, r.version, r.path, fmt::join(r.formats, ", "));
    }
}

}  // namespace

void setup_export(CLI::App & app, const char * name, const char * summary) {
    auto o = std::make_shared<ExportOptions>();
    CLI::App * sub = app.add_subcommand(name, summary);
    sub->add_option("model", o->model, "a run directory, NAME@VERSION or NAME@latest")->required();
    sub->add_option("--out", o->out, "root of the model repository: writes OUT/<name>/<version>/")
        ->capture_default_str();
    sub->add_option("--format", o->formats,
                    "onnx, keras, native (dlctl.h5 for serve/predict); default: every one")
        ->delimiter(',');
    sub->add_option("--runs", o->runs, "root folder of versioned runs (default: $DLCTL_RUNS, else ./runs)");
    sub->add_flag("--json", o->json, "print {\"path\", \"name\", \"version\", \"formats\"} on stdout");
    sub->callback([o] { run_export(*o); });
}

}  // namespace dlctl
