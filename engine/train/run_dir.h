// A training run's version directory, runs/<name>/<version>/ (io/runs.h): which version a run trains and
// claiming it, resuming from its checkpoints, and what the run writes there: spec.yaml, meta.json,
// metrics.jsonl and the checkpoints model.h5, best.h5 and checkpoints/epoch-*.h5.
//   RunChoice choice = choose_run(root, spec, spec_yaml, options.resume, observer);
//   RunDir run(claim_run(root, spec.name, choice, claimed), t0);
//   if (choice.resuming) lines = resume_run(run.ref(), spec, {spec_yaml, stored}, params, opt, st, observer);
//   run.start(spec, spec_yaml, table.sha256, device, threads, st.epoch, lines);
//   run.save("running", st.epoch, pack_checkpoint(...));   // model.h5, metrics.jsonl, meta.json
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/h5file.h"
#include "io/runs.h"
#include "spec/spec.h"
#include "train/checkpoint_state.h"
#include "train/trainer.h"

namespace dl {

// The run, once claimed and locked: what train() marks failed when the run ends with an error.
struct ClaimedRun {
    std::string dir;
    std::optional<RunLock> lock;
};

// The version to train: a new one, or with --resume the newest unfinished one.
struct RunChoice {
    RunRef run;  // resuming or done: the newest version
    bool resuming = false;
    std::optional<nlohmann::json> done;  // the newest version is done, nothing to resume: its meta.json
};
RunChoice choose_run(const std::string & root, const Spec & spec, const std::string & spec_yaml, bool resume,
                     TrainObserver & observer);

// Claims the version chosen (a new one unless resuming) and locks it into `claimed`.
RunRef claim_run(const std::string & root, const std::string & name, const RunChoice & choice,
                 ClaimedRun & claimed);

// Restores the newest checkpoint of `run` that loads (Note [resume sources]) into params, opt and st; returns
// the lines of metrics.jsonl that it covers.
std::vector<std::string> resume_run(const RunRef & run, const Spec & spec,
                                    const std::vector<std::string> & spec_texts, ParamStore & params,
                                    Optimizer & opt, LoopState & st, TrainObserver & observer);

// What the run writes into its directory once claimed. `t0`: when the run started, for meta.json's seconds.
class RunDir {
public:
    RunDir(RunRef run, std::chrono::steady_clock::time_point t0) : run_(std::move(run)), t0_(t0) {}

    const RunRef & ref() const { return run_; }
    std::string model_path() const { return run_.dir + "/model.h5"; }
    const std::vector<std::string> & metric_lines() const { return metric_lines_; }

    // spec.yaml, meta.json ("running", at epoch `epoch`, keeping a resumed run's "created" and "seconds")
    // and metrics.jsonl as `metric_lines`.
    void start(const Spec & spec, const std::string & spec_yaml, const std::string & data_sha256,
               const std::string & device, int threads, int64_t epoch, std::vector<std::string> metric_lines);
    // One epoch's line of metrics.jsonl.
    void append_metrics(std::string line);
    // The checkpoint as model.h5, then metrics.jsonl and meta.json with `status`.
    void save(const char * status, int64_t epoch, const H5Content & checkpoint);
    // checkpoint.keep_last: the checkpoint as checkpoints/epoch-<epoch>.h5, and only the newest `keep_last`.
    void keep_epoch(int64_t epoch, int64_t keep_last, const H5Content & checkpoint);
    // checkpoint.keep_best.
    void save_best(const H5Content & checkpoint);
    // meta.json's "metrics" (the final save writes them).
    void set_metrics(const nlohmann::ordered_json & metrics) { meta_["metrics"] = metrics; }
    // meta.json says failed, before the error that ends the run is thrown. See Note [failed runs].
    void set_failed();

private:
    RunRef run_;
    std::chrono::steady_clock::time_point t0_;
    nlohmann::ordered_json meta_ = nlohmann::ordered_json::object();
    double seconds_before_ = 0;  // a resumed run's seconds so far
    std::vector<std::string> metric_lines_;
};

// meta.json says failed, with the exit code and the message. See Note [failed runs].
void mark_failed(const std::string & run_dir, ExitCode code, const std::string & message);

}  // namespace dl
