// Spec -> graph: the layers of model.layers become graph nodes, parameters are named <layer>/<param> and live in
// a ParamStore shared by every graph of the model (training, evaluation, prediction; each batch size).
//   ParamStore params;
//   Graph g = build_model_graph(spec, info, /*batch=*/32, GraphMode::train, params);   // creates + initialises params
//   run_passes(g);  Executor ex(std::move(g), params, pool, cpu);
// Training graphs end in the loss, the backward pass ("grad/<param>") and "prediction"; evaluation graphs in the
// loss and "prediction"; prediction graphs in "prediction" only. Inputs: "x" [batch, features] and "y"
// ([batch, targets] f32, or [batch] int32 class labels).
#pragma once

#include "data/dataset.h"
#include "exec/executor.h"
#include "spec/spec.h"

namespace dl {

enum class GraphMode { train, evaluate, predict };

struct DataInfo {
    std::vector<int64_t> sample_shape;  // one sample's shape, e.g. [13] or [28, 28]
    int64_t features = 0;     // its number of values
    int64_t targets = 0;      // regression target columns
    int64_t classes = 0;      // classification: number of classes
    bool classification = false;
};

DataInfo data_info_for(const Spec & spec, std::vector<int64_t> sample_shape, int64_t targets, int64_t classes);
DataInfo data_info_for(const Spec & spec, const Table & table);

Graph build_model_graph(const Spec & spec, const DataInfo & info, int64_t batch, GraphMode mode, ParamStore & params);

// Checks the model against the data (shapes, units, loss) by building it once; throws located errors.
void check_model(const Spec & spec, const DataInfo & info);

}  // namespace dl
