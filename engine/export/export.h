// `dlctl export`: a trained version as TF Serving's layout, DIR/<name>/<version>/, holding
//   dlctl.h5        the inference bundle (what serve and predict load: model/bundle.h)
//   signature.json  inputs/outputs (names, dtypes, shapes), column and label names, metrics, spec sha256
//   model.onnx      the inference graph in ONNX (opset 17), normalisation included (export/onnx_export.cpp)
//   model.h5        Keras' legacy HDF5 model (export/keras_export.cpp)
// The version directory is built under a temporary name beside it and renamed into place (an existing one is
// swapped out atomically), so a server watching DIR/<name>/ never sees half a version.
//   ExportResult r = export_version(load_trained(run), read_meta(run.dir), "export", {"onnx", "native"});
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/bundle.h"

namespace dl {

struct ExportResult {
    std::string path;  // absolute: the version directory
    std::string name;
    int64_t version = 0;
    std::vector<std::string> formats;                          // written
    std::vector<std::pair<std::string, std::string>> skipped;  // (format, why): the model has what it lacks
};

// Every format, in the order written: "native" (dlctl.h5 + signature.json), "onnx", "keras".
const std::vector<std::string> & export_formats();

// `meta` is the run's meta.json (metrics, spec_sha256); `formats` a subset of export_formats().
// signature.json is always written. A format that cannot represent the model (a layer Keras lacks) throws
// Error(bad_input), or with `skip_unsupported` (every format by default, none asked for by name) is left out
// and listed in `skipped`.
ExportResult export_version(const TrainedModel & model, const nlohmann::json & meta,
                            const std::string & out_root, const std::vector<std::string> & formats,
                            bool skip_unsupported = false);

// `dlctl export MODEL`: resolves MODEL (a run directory, NAME@VERSION or NAME@latest under `runs_root`),
// refuses a version that has not finished training (Error(usage)), and exports it. `formats` empty: every
// format, those that cannot hold the model left out.
ExportResult export_model(const std::string & model, const std::string & runs_root,
                          const std::string & out_root, const std::vector<std::string> & formats);

// The ONNX model (serialized ModelProto), checked by onnx::checker before it is returned.
std::string onnx_model_bytes(const TrainedModel & model);
// Keras' legacy HDF5 model file at `path` (written atomically). Error(bad_input) naming the layer when the
// model has a layer Keras lacks.
void write_keras_h5(const std::string & path, const TrainedModel & model);

}  // namespace dl
