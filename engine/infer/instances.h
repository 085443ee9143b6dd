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

#include "model/trained_model.h"

namespace dl {

bool instance_to_row(const nlohmann::json & instance, const TrainedModel & model, float * row,
                     std::string & why);

// Requests nest at most this deep (a batch of [28, 28, 1] images is 4 levels); parsers refuse deeper text.
constexpr int kMaxInstanceDepth = 32;

// One value of an instance: a number within float32's range, or NaN/Infinity/-Infinity written as the bare
// literals TF Serving accepts (after rewrite_nonfinite_literals); false with `why` otherwise.
bool json_to_float(const nlohmann::json & value, float & out, std::string & why);

// Bare NaN, Infinity and -Infinity outside strings become strings json_to_float reads back, so that a strict
// JSON parser takes the text; everything else is left as it is.
void rewrite_nonfinite_literals(std::string & text);

// Rows read from a CSV (columns matched by name to the model's features; others, such as the target, ignored
// — image models take every column in order) or a JSON-lines file (one instance per line). Errors carry the
// file, row and column (exit 65).
struct InputRows {
    std::vector<float> values;  // [rows, model.info.features]
    int64_t rows = 0;
};
InputRows read_input_rows(const std::string & path, const std::string & format, const TrainedModel & model);

}  // namespace dl
