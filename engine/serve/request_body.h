// Request bodies: TF Serving's row ("instances") and columnar ("inputs") formats, to rows of float32 values;
// the replies to predict, and the Classify and Regress APIs. Errors are HttpError(400) (serve_errors.h).
// Internal to serve/.
//   RowsReader reader(version);
//   reader.rows_format(body.at("instances"));          // or columnar_format(body.at("inputs"))
//   version.batcher->predict(reader.values().data(), reader.rows(), out.data());
//   res.body = prediction_reply(version, out, reader.rows(), /*columnar=*/false);
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "serve/serve_errors.h"
#include "serve/version_repository.h"

namespace dl::serve {

// Each instance goes through instance_to_row, as `dlctl predict`'s JSON lines do: the same shapes are
// accepted and the same things said about the others.
class RowsReader {
public:
    explicit RowsReader(const LoadedVersion & v) : v_(v), model_(v.batcher->model()) {}

    void rows_format(const json & instances);

    // "inputs": a batch (a list of instances), {"input": batch}, or for tabular models {feature: [values]}.
    void columnar_format(const json & inputs);

    int64_t rows() const { return static_cast<int64_t>(values_.size()) / v_.input_size; }
    const std::vector<float> & values() const { return values_; }

private:
    void instance(const json & x, const std::string & where);
    void feature_columns(const json & inputs);

    const LoadedVersion & v_;
    const TrainedModel & model_;
    std::vector<float> values_;
};

// Rows: {"predictions": [row, ...]}, a row being [values] or {"probabilities": [...], "label": "name"}.
// Columnar: {"outputs": [[values], ...]} or {"outputs": {"probabilities": [[...], ...], "label": [...]}}.
std::string prediction_reply(const LoadedVersion & v, const std::vector<float> & out, int64_t n,
                             bool columnar);

// TF Serving's Classify and Regress APIs: {"context": {...}, "examples": [{feature: value, ...}, ...]}, each
// example merged over the context, answered {"results": [[[label, score], ...], ...]} or {"results": [value,
// ...]}.
void classify_or_regress(const json & body, const LoadedVersion & v, bool classify, std::string & reply);

}  // namespace dl::serve
