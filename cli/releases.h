// What `label`, `promote`, `rollback`, `history` and `rollout` share: the model directory a command names,
// and the check that a version about to be labelled exists and loads.
//   std::string dir = model_directory("housing", runs);          // runs/housing; export/housing as given
//   int64_t v = loadable_version(dir, "latest");                  // a number, latest or a label
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>

namespace dlctl {

// The MODEL_DIR positional and --runs every release verb takes (model_directory() reads them).
void add_model_dir_options(CLI::App * sub, std::string & model_dir, std::string & runs_flag);

// MODEL_DIR as a user writes it: a path (it has a '/', or names a directory here) is taken as is; a bare NAME
// is the model NAME under the runs root (--runs, $DLCTL_RUNS, ./runs). Error(missing_input) when absent.
std::string model_directory(const std::string & arg, const std::string & runs_flag);

// The version `which` (a number, `latest` or a label) of the model directory, after loading it (a run's
// checkpoint or an export's dlctl.h5): exit 66 when it is missing, 65 when it is corrupt, 2 when a run has not
// finished training.
int64_t loadable_version(const std::string & model_dir, const std::string & which);

// A version or a missing one, as history and messages print it.
std::string version_text(const std::optional<int64_t> & v);

}  // namespace dlctl
