// The training loop: epochs over seeded shuffles, the optimizer, schedules, early stopping, metrics.jsonl,
// checkpoints by policy and on SIGINT/SIGTERM, and exact resume.
//   TrainOptions o{.spec_path = "configs/housing.yaml", .threads = 2};
//   TrainResult r = train(o, observer);     // r.run_dir = runs/housing/<version>
// Note [resume]: a checkpoint holds everything that decides the rest of the run: parameters, optimizer slots
// and iteration count, schedule/plateau/early-stopping state, the epoch, the batch within it and the sums of
// the epoch's metrics so far. Data order and dropout masks are pure functions of (seed, epoch|step), so
// nothing else is needed for a resumed run to end bit-identical to one that never stopped.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "data/dataset.h"
#include "exec/executor.h"
#include "io/runs.h"
#include "model/model.h"
#include "spec/spec.h"

namespace dl {

struct TrainOptions {
    std::string spec_path;
    std::vector<std::string> overrides;  // --set KEY=VALUE
    std::string runs_flag;               // --runs
    std::optional<uint64_t> seed;        // --seed
    int threads = 0;                     // 0 = all cores
    std::string device;                  // cpu, cuda, cuda:N, auto; empty: the spec's `device`, else cpu
    bool resume = false;
    // A backend of the caller's to train on instead of `device`'s (it must outlive the call): an embedding
    // program's, or a test's.
    Backend * backend = nullptr;
};

struct EpochReport {
    int64_t epoch = 0, epochs = 0;  // 1-based epoch just finished
    nlohmann::ordered_json values;  // loss, metrics, val_*, lr
    double seconds = 0;
    double samples_per_s = 0;  // training throughput of the epoch
};

class TrainObserver {
public:
    virtual ~TrainObserver() = default;
    virtual void on_start(const Spec &, const RunRef &, int64_t train_rows, int64_t steps_per_epoch) {}
    virtual void on_batch(int64_t epoch, int64_t batch, int64_t batches, double loss) {}
    virtual void on_epoch(const EpochReport &) {}
    virtual void on_note(const std::string &) {}
};

struct TrainResult {
    std::string name;
    int64_t version = 0;
    std::string run_dir, checkpoint;
    int64_t epochs = 0;
    double seconds = 0;
    nlohmann::ordered_json metrics = nlohmann::ordered_json::object();
    bool already_done = false;
};

TrainResult train(const TrainOptions & options, TrainObserver & observer);

// Canonical direction of a monitored quantity: accuracy goes up, losses and errors go down.
bool higher_is_better(const std::string & monitor);

}  // namespace dl
