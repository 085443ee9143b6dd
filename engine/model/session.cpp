#include "model/session.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "passes/passes.h"
#include "spec/metric_def.h"

namespace dl {

std::map<std::string, double> MetricSums::means() const {
    std::map<std::string, double> out;
    const double n = static_cast<double>(std::max<int64_t>(1, samples));
    out["loss"] = loss / n;
    for (auto & [name, s] : sums) out[name] = s / n;
    return out;
}

ModelSession::ModelSession(const Spec & spec, DataInfo info, ParamStore & params, int threads,
                           Backend * backend)
    : spec_(spec), info_(info), params_(params), pool_(threads), backend_(backend ? backend : &cpu_) {}

Executor & ModelSession::executor(GraphMode mode, int64_t batch) {
    auto key = std::make_pair(static_cast<int>(mode), batch);
    auto it = executors_.find(key);
    if (it != executors_.end()) return *it->second;
    Graph g = build_model_graph(spec_, info_, batch, mode, params_);
    run_passes(g);
    auto ex = std::make_unique<Executor>(std::move(g), params_, pool_, *backend_);
    return *executors_.emplace(key, std::move(ex)).first->second;
}

std::vector<TensorView> & ModelSession::gradients(Executor & ex) {
    std::vector<TensorView> & grads = gradients_[&ex];
    if (grads.empty())
        for (const std::string & name : params_.trainable_names())
            grads.push_back(ex.device_output("grad/" + name));
    return grads;
}

void ModelSession::commit_updates(Executor & ex) {
    auto [it, fresh] = updates_.try_emplace(&ex);
    if (fresh) {
        for (auto & [name, id] : ex.graph().outputs())
            if (name.starts_with("update/")) {
                TensorView to = params_.at(name.substr(7)).view();
                to.data = params_.device_data(name.substr(7), *backend_);
                it->second.emplace_back(ex.device_output(name), to);
            }
    }
    for (auto & [from, to] : it->second) backend_->copy(to.data, from.data, from.bytes());
}

void ModelSession::feed(Executor & ex, const Table & t, const std::vector<int64_t> & rows, int64_t begin,
                        int64_t end, bool with_y) {
    const int64_t f = t.num_features();
    float * x = ex.input("x").f32();
    for (int64_t i = begin; i < end; ++i)
        std::memcpy(x + (i - begin) * f, t.features.data() + rows[static_cast<size_t>(i)] * f,
                    sizeof(float) * static_cast<size_t>(f));
    if (!with_y) return;
    if (info_.classification) {
        int32_t * y = ex.input("y").i32();
        for (int64_t i = begin; i < end; ++i)
            y[i - begin] = t.labels[static_cast<size_t>(rows[static_cast<size_t>(i)])];
    } else {
        const int64_t k = t.num_targets();
        float * y = ex.input("y").f32();
        for (int64_t i = begin; i < end; ++i)
            std::memcpy(y + (i - begin) * k, t.targets.data() + rows[static_cast<size_t>(i)] * k,
                        sizeof(float) * static_cast<size_t>(k));
    }
}

void ModelSession::accumulate(Executor & ex, const Table & t, const std::vector<int64_t> & rows,
                              int64_t begin, int64_t end, MetricSums & sums) {
    const int64_t n = end - begin;
    sums.loss += static_cast<double>(ex.output("loss").f32()[0]) * static_cast<double>(n);
    sums.samples += n;
    const TensorView pred = ex.output("prediction");
    const int64_t width = pred.shape[1];
    const float * p = pred.f32();
    for (const std::string & metric : spec_.train.metrics) {
        const MetricDef * def = find_metric(metric);
        DL_CHECK(def != nullptr, ExitCode::internal, "metric '{}' is not registered", metric);
        double s = 0;
        for (int64_t i = 0; i < n; ++i) {
            const int64_t row = rows[static_cast<size_t>(begin + i)];
            if (info_.classification) {
                if (def->classified)
                    def->classified(s, p + i * width, width, t.labels[static_cast<size_t>(row)]);
                continue;
            }
            if (def->regressed) def->regressed(s, p + i * width, t.targets.data() + row * width, width);
        }
        sums.sums[metric] += s;
    }
}

PreparedData prepare_data(const Spec & spec) {
    PreparedData d;
    d.table = read_dataset(spec.data, is_classification_loss(spec.train.loss.name));
    const std::vector<int64_t> & sample = d.table.sample_shape;
    if (spec.data.augment.any() && sample.size() != 2 && sample.size() != 3)
        throw Error(
            ExitCode::bad_input,
            format_at(spec.data.augment.loc,
                      fmt::format("data.augment flips and shifts images, but the samples have shape {}",
                                  to_string(Shape(sample))),
                      "augmentation needs [height, width] or [height, width, channels] samples"));
    d.splits = make_splits(d.table.rows(), spec.data, spec.seed, d.table.test_start);
    DL_CHECK(!d.splits.train.empty(), ExitCode::bad_input,
             "{}: no training rows left after test_split and validation_split", spec.data.path_as_written);
    d.normalizer = Normalizer::fit(d.table, d.splits.train, spec.data.normalize);
    d.normalizer.apply(d.table);
    d.info = data_info_for(spec, d.table);
    return d;
}

MetricSums ModelSession::evaluate(const Table & t, const std::vector<int64_t> & rows,
                                  std::vector<int32_t> * predicted_classes) {
    MetricSums sums;
    if (predicted_classes) predicted_classes->clear();
    const int64_t n = static_cast<int64_t>(rows.size());
    for (int64_t b = 0; b < n; b += kEvalBatch) {
        const int64_t e = std::min(n, b + kEvalBatch);
        Executor & ex = executor(GraphMode::evaluate, e - b);
        feed(ex, t, rows, b, e, true);
        ex.run(spec_.seed, 0);
        accumulate(ex, t, rows, b, e, sums);
        if (predicted_classes && info_.classification) {
            const TensorView pred = ex.output("prediction");
            const int64_t width = pred.shape[1];
            // the first most probable class, as the accuracy metric and `predict` choose it
            for (int64_t i = 0; i < e - b; ++i) {
                const float * p = pred.f32() + i * width;
                predicted_classes->push_back(static_cast<int32_t>(std::max_element(p, p + width) - p));
            }
        }
    }
    return sums;
}

}  // namespace dl
