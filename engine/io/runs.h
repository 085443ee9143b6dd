// The model repository: runs/<name>/<version>/ with integer versions per model name.
//   std::string root = runs_root(flag);                    // --runs, else $DLCTL_RUNS, else ./runs
//   RunRef run = claim_version(root, "housing");           // atomically the next free version (mkdir)
//   RunRef r = resolve_model("housing@stable", root);   // NAME@latest|VERSION|LABEL, DIR@..., or a version dir
// A model directory (runs/<name>, or a served export/<name>) holds integer version folders, and labels.json and
// history.jsonl (io/model_labels.h).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace dl {

struct RunRef {
    std::string name;
    int64_t version = 0;
    std::string dir;         // absolute
    bool exported = false;   // an export version directory (dlctl.h5), not a run (model.h5, a checkpoint)
    std::string trained_in;  // for an export: its run, runs/<name>/<version>, when this machine has it
};

std::string runs_root(const std::string & flag);
RunRef claim_version(const std::string & root, const std::string & name);
std::vector<int64_t> list_versions(const std::string & root, const std::string & name);
std::vector<int64_t> list_versions_in(const std::string & model_dir);
std::vector<std::string> list_model_names(const std::string & root);
std::string version_dir(const std::string & root, const std::string & name, int64_t version);

// What a verb that takes a model accepts:
//   - a version directory: a run (runs/housing/3, with model.h5) or an export (export/housing/3, with dlctl.h5);
//   - NAME@WHICH: the model NAME under `root` (runs/NAME);
//   - DIR@WHICH: the model directory DIR (a path with a '/': export/housing@stable, ./housing@2).
// WHICH is a version number, `latest` (the newest finished version) or a label of the model directory's
// labels.json (stable, canary, ...).
RunRef resolve_model(const std::string & ref, const std::string & root);

// The file a version's model is read from: dlctl.h5 for an export, model.h5 (the checkpoint) for a run.
std::string model_file_of(const RunRef & run);

nlohmann::json read_meta(const std::string & run_dir);  // {} when absent
void write_meta(const std::string & run_dir, const nlohmann::json & meta);

// Removes the temporary files (NAME.tmp-XXXXXX) a killed process left in the version directories of model
// `name` (and their checkpoints/ folders) that no process is training now; `except_version` (one this
// process is about to lock and clean itself) is skipped.
void remove_stale_temp_files(const std::string & root, const std::string & name, int64_t except_version = 0);
// The same for one directory (and its checkpoints/), whose lock the caller holds.
void remove_temp_files_in(const std::string & run_dir);

// An exclusive lock on a run directory while it trains (flock on <dir>/.lock); released when destroyed.
class RunLock {
public:
    // Error(usage) when another process holds it (after waiting up to a second: remove_stale_temp_files holds
    // a version's lock for a moment while it cleans).
    explicit RunLock(const std::string & run_dir);
    ~RunLock();
    RunLock(const RunLock &) = delete;

private:
    int fd_ = -1;
};

std::string iso8601_now();

}  // namespace dl
