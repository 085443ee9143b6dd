// Turning what callers send into model input rows, shared by `dlctl predict` (CSV, JSON lines) and `dlctl
// serve` (TF Serving's "instances"/"inputs"), so both accept the same shapes and say the same things when
// they cannot. One instance is any of:
//   [v1, v2, ...]                    the sample's values, flat or nested to its shape (e.g. 28 rows of 28)
//   {"input": <values>}              the same, under the input's name
//   {"crim": 0.1, "zn": 18, ...}     tabular models: one value per feature column (extra keys are ignored)
//   std::string why;
//   if (!instance_to_row(j, model, row.data(), why)) fail(why);     // row: model.info.features floats
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "train/trainer.h"

namespace dl {

bool instance_to_row(const nlohmann::json & instance, const TrainedModel & model, float * row,
                     std::string & why);

// Rows read from a CSV (columns matched by name to the model's features; others, such as the target, ignored
// — image models take every column in order) or a JSON-lines file (one instance per line). Errors carry the
// file, row and column (exit 65).
struct InputRows {
    std::vector<float> values;  // [rows, model.info.features]
    int64_t rows = 0;
};
InputRows read_input_rows(const std::string & path, const std::string & format, const TrainedModel & model);

}  // namespace dl
