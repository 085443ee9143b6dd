#include "infer/predictor.h"

#include <cstring>

namespace dl {

Predictor::Predictor(TrainedModel model, int threads) : model_(std::move(model)) {
    session_ = std::make_unique<ModelSession>(model_.spec, model_.info, model_.params, threads);
}

int64_t Predictor::output_size() const {
    return model_.info.classification ? model_.info.classes : model_.info.targets;
}

void Predictor::predict(const float * rows, int64_t n, float * out) {
    const int64_t f = input_size(), k = output_size();
    // As training read the data: data.rescale (1/255 for 8-bit images) as the values are read, then the
    // statistics.
    const float rescale = static_cast<float>(model_.spec.data.rescale);
    const bool rescaled = model_.spec.data.rescale != 1.0;
    const Normalizer & norm = model_.normalizer;
    const bool normalize = norm.method != "none";
    for (int64_t b = 0; b < n; b += max_batch_) {
        const int64_t m = std::min(max_batch_, n - b);
        Executor & ex = session_->executor(GraphMode::predict, m);
        float * x = ex.input("x").f32();
        const float * src = rows + b * f;
        for (int64_t i = 0; i < m; ++i) {
            for (int64_t j = 0; j < f; ++j) {
                float v = src[i * f + j];
                if (rescaled) v *= rescale;
                if (normalize)
                    v = (v - norm.offset[static_cast<size_t>(j)]) / norm.scale[static_cast<size_t>(j)];
                x[i * f + j] = v;
            }
        }
        ex.run(model_.spec.seed, 0);
        std::memcpy(out + b * k, ex.output("prediction").f32(), sizeof(float) * static_cast<size_t>(m * k));
    }
}

}  // namespace dl
