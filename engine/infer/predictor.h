// Inference on raw rows: the model's saved normalisation, then the prediction graph, in batches. One
// Predictor is used by one thread at a time (it owns executors and their buffers); serving keeps one per
// version and feeds it merged batches.
//   Predictor p(load_bundle("export/housing/3"), /*threads=*/2);
//   std::vector<float> out(n * p.output_size());
//   p.predict(rows.data(), n, out.data());      // rows: n * p.input_size() raw values (before data.rescale
//                                               // and the normalisation, which the Predictor applies)
#pragma once

#include <memory>

#include "model/session.h"
#include "model/trained_model.h"

namespace dl {

class Predictor {
public:
    Predictor(TrainedModel model, int threads);

    const TrainedModel & model() const { return model_; }
    int64_t input_size() const { return model_.info.features; }  // values per row
    int64_t output_size() const;                                 // classes, or target columns
    bool classifier() const { return model_.info.classification; }
    // Rows at most this many go through the engine in one call; more are split into chunks of this size.
    int64_t max_batch() const { return max_batch_; }
    void set_max_batch(int64_t n) { max_batch_ = n; }

    // out[n * output_size()]: class probabilities or regression values.
    void predict(const float * rows, int64_t n, float * out);

private:
    TrainedModel model_;
    std::unique_ptr<ModelSession> session_;
    int64_t max_batch_ = kEvalBatch;
};

}  // namespace dl
