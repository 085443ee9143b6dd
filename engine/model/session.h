// A model ready to run: its spec, data layout, parameters and the executors compiled for it, one per
// (mode, batch size) and built on first use — the training step's last partial batch gets its own graph.
//   ModelSession s(spec, info, params, threads);
//   Executor & ex = s.executor(GraphMode::train, 32);
//   BatchMetrics m = s.evaluate(table, rows);      // loss and metrics over rows, in batches
#pragma once

#include <map>
#include <memory>

#include "backend/backend.h"
#include "data/dataset.h"
#include "exec/executor.h"
#include "model/model.h"

namespace dl {

// Sums over samples, turned into means by `means()`: {"loss", "accuracy"|"mae"|"mse"...}.
struct MetricSums {
    double loss = 0;
    std::map<std::string, double> sums;
    int64_t samples = 0;
    std::map<std::string, double> means() const;
};

class ModelSession {
public:
    // `backend`: where the graphs run (outlives the session); nullptr: a CPU backend of its own.
    ModelSession(const Spec & spec, DataInfo info, ParamStore & params, int threads,
                 Backend * backend = nullptr);

    Executor & executor(GraphMode mode, int64_t batch);
    ThreadPool & pool() { return pool_; }
    Backend & backend() { return *backend_; }
    const Spec & spec() const { return spec_; }
    const DataInfo & info() const { return info_; }

    // Copies rows[begin, end) of the table into the executor's "x" (and "y" unless predicting).
    void feed(Executor & ex, const Table & t, const std::vector<int64_t> & rows, int64_t begin, int64_t end,
              bool with_y);
    // Adds the batch's metrics (from "prediction" against the table's targets) to `sums`.
    void accumulate(Executor & ex, const Table & t, const std::vector<int64_t> & rows, int64_t begin,
                    int64_t end, MetricSums & sums);
    // With `predicted_classes` (a classifier's): each row's most probable class, in `rows` order.
    MetricSums evaluate(const Table & t, const std::vector<int64_t> & rows,
                        std::vector<int32_t> * predicted_classes = nullptr);
    // A training executor's "grad/<param>" outputs, in params.trainable_names() order (the optimizer's),
    // where the kernels wrote them (device memory on a device backend).
    std::vector<TensorView> & gradients(Executor & ex);
    // Copies a training step's "update/<param>" outputs (batch_norm's moving statistics) into the parameters,
    // in the backend's memory (issued in its stream on a device).
    void commit_updates(Executor & ex);

private:
    const Spec & spec_;
    DataInfo info_;
    ParamStore & params_;
    ThreadPool pool_;
    CpuBackend cpu_;
    Backend * backend_;
    std::map<std::pair<int, int64_t>, std::unique_ptr<Executor>> executors_;
    std::map<const Executor *, std::vector<TensorView>> gradients_;
    std::map<const Executor *, std::vector<std::pair<TensorView, TensorView>>> updates_;  // (from, to)
};

inline constexpr int64_t kEvalBatch = 256;

// A spec's data ready to train on: read, split, normalised with statistics from the training rows only.
struct PreparedData {
    Table table;
    Splits splits;
    Normalizer normalizer;
    DataInfo info;
};
PreparedData prepare_data(const Spec & spec);

}  // namespace dl
