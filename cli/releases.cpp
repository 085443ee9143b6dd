#include "releases.h"

#include <fmt/format.h>

#include <filesystem>

#include "core/error.h"
#include "io/runs.h"
#include "model/trained_model.h"

namespace dlctl {

namespace fs = std::filesystem;

void add_model_dir_options(CLI::App * sub, std::string & model_dir, std::string & runs_flag) {
    sub->add_option("model_dir", model_dir,
                    "a model directory (runs/housing, export/housing) or NAME (the runs directory's model)")
        ->required();
    sub->add_option("--runs", runs_flag, "root folder of versioned runs (default: $DLCTL_RUNS, else ./runs)");
}

std::string model_directory(const std::string & arg, const std::string & runs_flag) {
    std::error_code ec;
    const bool is_path = arg.find('/') != std::string::npos || arg == "." || arg == "..";
    const fs::path dir = is_path ? fs::absolute(arg) : fs::path(dl::runs_root(runs_flag)) / arg;
    if (!fs::is_directory(dir, ec))
        throw dl::Error(dl::ExitCode::missing_input,
                        fmt::format("{}: no such model directory{}", arg,
                                    is_path ? "" : fmt::format(" (looked for {})", dir.string())));
    if (!fs::exists(dir / "labels.json", ec) && dl::list_versions_in(dir.lexically_normal().string()).empty())
        throw dl::Error(dl::ExitCode::missing_input,
                        fmt::format("{}: not a model directory (no version folders 1, 2, ... in it)", arg));
    return dir.lexically_normal().string();
}

int64_t loadable_version(const std::string & model_dir, const std::string & which) {
    const dl::RunRef run = dl::resolve_model(model_dir + "@" + which, /*root=*/"");
    if (!run.exported) {
        const std::string status = dl::read_meta(run.dir).value("status", "");
        if (status != "done")
            throw dl::Error(dl::ExitCode::usage,
                            fmt::format("{}: version {} has not finished training (status '{}')", model_dir,
                                        run.version, status));
    }
    dl::load_trained(run);  // exit 65 naming the file when it does not load
    return run.version;
}

std::string version_text(const std::optional<int64_t> & v) { return v ? std::to_string(*v) : "-"; }

}  // namespace dlctl
