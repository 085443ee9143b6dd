#include "model/model.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "autodiff/autodiff.h"
#include "model/layer_build.h"
#include "spec/loss_def.h"

namespace dl {

namespace {

Graph build(const Spec & spec, const DataInfo & info, int64_t batch, GraphMode mode, ParamSink & sink);

}  // namespace

DataInfo data_info_for(const Spec & spec, std::vector<int64_t> sample_shape, int64_t targets,
                       int64_t classes) {
    DataInfo info{.sample_shape = std::move(sample_shape), .targets = targets, .classes = classes};
    info.features = Shape(info.sample_shape).numel();
    info.classification = is_classification_loss(spec.train.loss.name);
    return info;
}

DataInfo data_info_for(const Spec & spec, const Table & table) {
    return data_info_for(spec, table.sample_shape, table.num_targets(), table.num_classes());
}

Graph build_model_graph(const Spec & spec, const DataInfo & info, int64_t batch, GraphMode mode,
                        ParamStore & params) {
    ParamSink sink{.store = &params};
    return build(spec, info, batch, mode, sink);
}

namespace {

Graph build(const Spec & spec, const DataInfo & info, int64_t batch, GraphMode mode, ParamSink & sink) {
    Graph g;
    g.set_location(spec.model.input_loc);
    // The sample's own shape, or its values flattened.
    const std::vector<int64_t> & in_shape = spec.model.input;
    const bool flat = in_shape.size() == 1 && in_shape[0] == info.features;
    std::vector<int64_t> with_channel = info.sample_shape;  // [28, 28] images as [28, 28, 1] for a conv2d
    with_channel.push_back(1);
    if (in_shape != info.sample_shape && !flat && in_shape != with_channel) {
        const std::string has = info.sample_shape.size() == 1
                                    ? fmt::format("{} feature columns", info.features)
                                    : fmt::format("samples of shape {}", to_string(Shape(info.sample_shape)));
        throw Error(
            ExitCode::bad_input,
            format_at(spec.model.input_loc,
                      fmt::format("model.input is {} but the data has {}", to_string(Shape(in_shape)), has),
                      fmt::format("use input: {}", to_string(Shape(info.sample_shape)))));
    }
    Shape x_shape{batch};
    for (int64_t d : in_shape) x_shape.dims.push_back(d);
    Value x = g.input("x", x_shape);

    std::map<std::string, Value> values = {{"input", x}};
    Value current = x;
    Value logits;  // the last layer's pre-activation output, when its activation can be fused into the loss
    std::string last_activation = "linear";
    Value regularization;

    for (const LayerSpec & l : spec.model.layers) {
        g.set_location(l.loc);
        sink.layer = &l;
        const LayerDef * def = find_layer(l.type);
        DL_CHECK(def != nullptr && def->build != nullptr, ExitCode::internal, "layer type '{}' has no graph",
                 l.type);
        LayerBuild b{.g = g,
                     .layer = l,
                     .spec = spec,
                     .mode = mode,
                     .batch = batch,
                     .inputs = {},
                     .sink = sink,
                     .regularization = regularization};
        for (const std::string & name : l.inputs) b.inputs.push_back(values.at(name));
        if (b.inputs.empty()) b.inputs.push_back(current);
        def->build(b);
        b.check_output(b.out.shape());
        values[l.name] = b.out;
        current = b.out;
        last_activation = b.activation;
        logits = b.pre;
    }
    const LayerSpec & last = spec.model.layers.back();
    g.set_location(last.loc);
    Value prediction = current;
    g.mark_output("prediction", prediction);
    if (mode == GraphMode::predict) return g;

    const Shape ps = prediction.shape();
    const LossSpec & loss_spec = spec.train.loss;
    const LossDef * loss_def = find_loss(loss_spec.name);
    DL_CHECK(loss_def != nullptr && loss_def->build != nullptr, ExitCode::internal,
             "loss '{}' is not registered", loss_spec.name);
    if (ps.rank() != 2)
        layer_error(last, fmt::format("the model's output must be [batch, units], got {}", shape_text(ps)));
    Value y;
    if (info.classification) {
        y = g.input("y", Shape{batch}, DType::i32);
        if (ps[1] != info.classes)
            layer_error(
                last, fmt::format("the output has {} units but the data has {} classes", ps[1], info.classes),
                fmt::format("use units: {}", info.classes));
    } else {
        y = g.input("y", Shape{batch, info.targets});
        if (ps[1] != info.targets)
            layer_error(last,
                        fmt::format("the output has {} units but the data has {} target column(s)", ps[1],
                                    info.targets),
                        fmt::format("use units: {}", info.targets));
    }
    LossBuild lb{.g = g,
                 .spec = loss_spec,
                 .info = info,
                 .last = last,
                 .prediction = prediction,
                 .logits = logits,
                 .last_activation = last_activation,
                 .y = y,
                 .loss = {}};
    loss_def->build(lb);
    Value loss = lb.loss;
    if (regularization.valid()) loss = loss + regularization;
    g.mark_output("loss", loss);
    if (mode == GraphMode::train) {
        std::vector<int> trainable;
        for (int id : g.params())
            if (sink.trainable.count(g.node(id).name)) trainable.push_back(id);
        append_backward(g, loss, trainable);
    }
    return g;
}

}  // namespace

ModelSize check_model(const Spec & spec, const DataInfo & info) {
    ModelSize size;
    const auto tensors = [&](const Graph & g) {
        int64_t all = 0;
        for (const Node & n : g.nodes()) {
            const int64_t v = values_of(n.shape.dims);
            size.largest_tensor = std::max(size.largest_tensor, v);
            all = add_saturated(all, v);
        }
        return all;
    };
    // Training at its batch size: every tensor of a step, the backward pass's included.
    ParamSink sink;
    const Graph train = build(spec, info, spec.train.batch_size, GraphMode::train, sink);
    size.parameters = sink.values;
    size.step_values = tensors(train);
    // Evaluation and prediction run at up to kLargestEvalBatch rows.
    if (kLargestEvalBatch > spec.train.batch_size) {
        ParamSink eval_sink;
        tensors(build(spec, info, kLargestEvalBatch, GraphMode::evaluate, eval_sink));
    }
    if (size.step_values > kMaxStepValues) {
        throw Error(
            ExitCode::bad_input,
            format_at(
                SourceLoc{.file = spec.file},
                fmt::format("a training step at batch_size {} needs {} of tensors ({} values), over the "
                            "limit of {}",
                            spec.train.batch_size, gigabytes(size.step_values), size.step_values,
                            gigabytes(kMaxStepValues)),
                "use a smaller train.batch_size or a smaller model"));
    }
    return size;
}

}  // namespace dl
