// Spec -> graph: the layers of model.layers become graph nodes, parameters are named <layer>/<param> and live
// in a ParamStore shared by every graph of the model (training, evaluation, prediction; each batch size).
//   ParamStore params;
//   // creates and initialises the parameters:
//   Graph g = build_model_graph(spec, info, /*batch=*/32, GraphMode::train, params);
//   run_passes(g);  Executor ex(std::move(g), params, pool, cpu);
// Training graphs end in the loss, the backward pass ("grad/<param>") and "prediction"; evaluation graphs in
// the loss and "prediction"; prediction graphs in "prediction" only. Inputs: "x" [batch, features] and "y"
// ([batch, targets] f32, or [batch] int32 class labels).
#pragma once

#include "data/dataset.h"
#include "exec/executor.h"
#include "spec/spec.h"

namespace dl {

enum class GraphMode { train, evaluate, predict };

struct DataInfo {
    std::vector<int64_t> sample_shape;  // one sample's shape, e.g. [13] or [28, 28]
    int64_t features = 0;               // its number of values
    int64_t targets = 0;                // regression target columns
    int64_t classes = 0;                // classification: number of classes
    bool classification = false;
};

DataInfo data_info_for(const Spec & spec, std::vector<int64_t> sample_shape, int64_t targets,
                       int64_t classes);
DataInfo data_info_for(const Spec & spec, const Table & table);

// Throws Error(bad_input) at the layer's YAML line when a tensor or the parameters would pass the limits
// below, before anything of that size is allocated.
Graph build_model_graph(const Spec & spec, const DataInfo & info, int64_t batch, GraphMode mode,
                        ParamStore & params);

// What a model may allocate (README "The spec"), decided from the shapes before training starts. The
// per-tensor limit also keeps every size computation far from int64_t overflow (sizes are multiplied with
// checks).
constexpr int64_t kMaxParameterValues = int64_t{1} << 30;     // 4 GiB of float32 weights, all layers together
constexpr int64_t kMaxTensorValues = (int64_t{1} << 31) - 1;  // one tensor of one step, the batch included
constexpr int64_t kMaxStepValues = int64_t{1} << 34;          // all tensors of one training step: 64 GiB
// The largest batch anything runs the model at besides train.batch_size: evaluation and prediction
// (kEvalBatch).
constexpr int64_t kLargestEvalBatch = 256;

struct ModelSize {
    int64_t parameters = 0;      // values
    int64_t step_values = 0;     // every tensor of a training step at train.batch_size, summed
    int64_t largest_tensor = 0;  // values, at the larger of train.batch_size and kLargestEvalBatch
};

// Checks the model against the data (shapes, units, loss, sizes) by building its graphs without allocating
// anything: what `validate` runs, and what `train` runs before it claims a version. Throws located errors.
ModelSize check_model(const Spec & spec, const DataInfo & info);

}  // namespace dl
