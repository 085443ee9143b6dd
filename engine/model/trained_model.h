// A trained version as evaluation, prediction, export and serving see it: the spec it was trained with, its
// parameters, normalisation statistics and column names, read from a checkpoint (model.h5) or an export
// bundle (dlctl.h5). What reads a trained model depends on this, never on the trainer.
//   TrainedModel m = load_trained(RunRef{...});          // runs/<name>/<version>/model.h5
//   TrainedModel b = load_trained_file("export/housing/1/dlctl.h5");
#pragma once

#include <string>
#include <vector>

#include "data/dataset.h"
#include "exec/executor.h"
#include "io/runs.h"
#include "model/model.h"
#include "spec/spec.h"

namespace dl {

// A trained version loaded for evaluation or prediction.
struct TrainedModel {
    RunRef run;
    Spec spec;
    std::string spec_yaml;  // as saved (the spec_sha256 of the version is over these bytes)
    ParamStore params;
    Normalizer normalizer;
    std::vector<std::string> classes;
    std::vector<std::string> features;  // CSV feature column names, in input order (empty for images)
    std::vector<std::string> targets;   // target column names
    DataInfo info;
    int64_t epoch = 0;
};
TrainedModel load_trained(const RunRef & run);
// A checkpoint (model.h5) or an export bundle (dlctl.h5): both carry the spec, parameters, normalisation and
// column names under the same attributes.
TrainedModel load_trained_file(const std::string & h5_path);

// The resolved spec as checkpoints and exports store it: data files named relative to the spec file (or by
// file name alone when the spec gave an absolute path), never by a path of the host that trained it.
std::string portable_spec_yaml(const Spec & spec);

// Reads the spec's data with a trained model's label mapping and normalisation (the saved statistics).
Table load_table_for(const TrainedModel & m, const std::string & data_path_override);
// The same with another version's data (`eval --against` scores the baseline on the candidate's rows); the
// feature columns must be the ones `m` was trained on, in its order.
Table load_table_for(const TrainedModel & m, const DataSpec & data, const std::string & data_path_override);

// Copies a checkpoint's tensor into a model's, which must have its shape; `what` names it in the error
// (exit 65: the file does not fit the model).
void copy_checkpoint_tensor(Tensor & dst, const Tensor & src, const std::string & what);

}  // namespace dl
