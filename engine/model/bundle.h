// An exported version as serve and predict read it: dlctl.h5 (the inference bundle) and signature.json in
// DIR/<name>/<version>/ (export/export.h writes them). What serving needs, without the exporters' libraries.
//   TrainedModel m = load_bundle("export/housing/1");
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/trained_model.h"

namespace dl {

// The names the exported graph, the signature and the server share. Inputs: "input" [batch, *sample shape]
// (raw values: normalisation is part of the graph). Outputs: "prediction" [batch, targets] for regression;
// "probabilities" [batch, classes] (float32) and "label" [batch] (the class name, string) for classifiers.
inline constexpr const char * kInputName = "input";
std::vector<std::string> output_names(const TrainedModel & model);

// dlctl.h5 in an export version directory (or a path to the file itself).
TrainedModel load_bundle(const std::string & dir_or_file);

// The signature.json of a version.
nlohmann::ordered_json make_signature(const TrainedModel & model, const nlohmann::json & meta);

}  // namespace dl
