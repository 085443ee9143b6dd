#include "model/model.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "autodiff/autodiff.h"
#include "core/rng.h"

namespace dl {

namespace {

void initialize(Tensor & t, const std::string & how, const std::string & name, uint64_t seed, int64_t fan_in,
                int64_t fan_out) {
    const Rng rng(seed, Rng::stream("init", name));
    float * p = t.f32();
    const int64_t n = t.numel();
    const double fi = static_cast<double>(fan_in), fo = static_cast<double>(fan_out);
    if (how == "zeros") {
        std::fill(p, p + n, 0.0f);
    } else if (how == "ones") {
        std::fill(p, p + n, 1.0f);
    } else if (how == "uniform_0.05") {  // Keras' embeddings: RandomUniform(-0.05, 0.05)
        for (int64_t i = 0; i < n; ++i)
            p[i] = static_cast<float>((2.0 * rng.uniform_double(static_cast<uint64_t>(i)) - 1.0) * 0.05);
    } else if (how == "glorot_uniform" || how == "he_uniform") {
        const double limit = how == "glorot_uniform" ? std::sqrt(6.0 / (fi + fo)) : std::sqrt(6.0 / fi);
        for (int64_t i = 0; i < n; ++i)
            p[i] = static_cast<float>((2.0 * rng.uniform_double(static_cast<uint64_t>(i)) - 1.0) * limit);
    } else {  // glorot_normal, he_normal: normals truncated at two standard deviations, as Keras
        const double stddev = how == "glorot_normal" ? std::sqrt(2.0 / (fi + fo)) : std::sqrt(2.0 / fi);
        // Keras scales the truncated normal so its standard deviation is `stddev`.
        const double unscale = stddev / 0.87962566103423978;
        for (int64_t i = 0; i < n; ++i) {
            float z = 0;
            for (uint64_t attempt = 0;; ++attempt) {
                z = rng.normal(static_cast<uint64_t>(i) * 64 + attempt);
                if (std::fabs(z) <= 2.0f || attempt == 63) break;
            }
            p[i] = static_cast<float>(z * unscale);
        }
    }
}

// a * b, or INT64_MAX when that overflows: sizes compare against the limits without wrapping around.
int64_t mul_saturated(int64_t a, int64_t b) {
    int64_t out = 0;
    return __builtin_mul_overflow(a, b, &out) ? INT64_MAX : out;
}
int64_t add_saturated(int64_t a, int64_t b) {
    int64_t out = 0;
    return __builtin_add_overflow(a, b, &out) ? INT64_MAX : out;
}
int64_t values_of(const std::vector<int64_t> & dims) {
    int64_t n = 1;
    for (int64_t d : dims) n = mul_saturated(n, d);
    return n;
}

std::string gigabytes(int64_t values) {
    return fmt::format("{:.1f} GB", static_cast<double>(values) * 4 / 1e9);
}

[[noreturn]] void layer_error(const LayerSpec & l, const std::string & message,
                              const std::string & note = {}) {
    const std::string who =
        l.name == l.type ? fmt::format("layer '{}'", l.name) : fmt::format("layer '{}' ({})", l.name, l.type);
    throw Error(ExitCode::bad_input, format_at(l.loc, fmt::format("{}: {}", who, message), note));
}

// A shape as users think of it: the batch axis by name, since its size depends on where the graph is built.
std::string shape_text(const Shape & s) {
    std::string out = "[batch";
    for (int d = 1; d < s.rank(); ++d) out += fmt::format(", {}", s[d]);
    return out + "]";
}

Value activate(Graph & g, Value x, const std::string & activation) {
    if (activation == "linear") return x;
    return g.op(activation, {x});
}

// Where the parameters go: the store (created and initialised the first time a name is seen), or nowhere when
// only the shapes and sizes are wanted (check_model: `validate` must not allocate what it is checking).
struct ParamSink {
    ParamStore * store = nullptr;
    std::set<std::string> trainable;  // by name; ParamStore::trainable is a linear search
    int64_t values = 0;
    const LayerSpec * layer = nullptr;  // for messages

    Value make(Graph & g, const std::string & name, Shape shape, const std::string & init, uint64_t seed,
               int64_t fan_in, int64_t fan_out, bool is_trainable = true) {
        const int64_t n = values_of(shape.dims);
        if (n > kMaxTensorValues)
            layer_error(*layer,
                        fmt::format("parameter '{}' of shape {} holds {} values, over the limit of {} for "
                                    "one tensor",
                                    name, to_string(shape), n == INT64_MAX ? "over 2^63" : std::to_string(n),
                                    kMaxTensorValues));
        values = add_saturated(values, n);
        if (values > kMaxParameterValues)
            layer_error(
                *layer,
                fmt::format(
                    "the model needs {} of parameters ({} values) up to this layer, over the limit of "
                    "{} ({} values)",
                    gigabytes(values), values, gigabytes(kMaxParameterValues), kMaxParameterValues),
                "use fewer units or filters, or a smaller input");
        if (is_trainable) trainable.insert(name);
        if (store && !store->has(name))
            initialize(store->add(name, shape, is_trainable), init, name, seed, fan_in, fan_out);
        return g.param(name, std::move(shape));
    }

    Value filled(Graph & g, int64_t n, float value) {
        if (!store)  // a constant's shape, no memory
            return g.input(fmt::format("shape-only/{}/{}", layer->name, value), Shape{n});
        Tensor t(Shape{n});
        std::fill(t.f32(), t.f32() + n, value);
        return g.constant(std::move(t));
    }
};

// A layer's output: one sample at most kMaxTensorValues values, and the whole batch too.
void check_output(const LayerSpec & l, const Shape & s) {
    const int64_t per_sample = values_of(std::vector<int64_t>(s.dims.begin() + 1, s.dims.end()));
    const int64_t all = mul_saturated(per_sample, s.dims.empty() ? 1 : s[0]);
    if (all > kMaxTensorValues)
        layer_error(
            l,
            fmt::format("its output {} holds {} values per sample, {} at batch {}; the limit for one "
                        "tensor is {} ({})",
                        shape_text(s), per_sample == INT64_MAX ? "over 2^63" : std::to_string(per_sample),
                        all == INT64_MAX ? "over 2^63" : std::to_string(all), s.dims.empty() ? 1 : s[0],
                        kMaxTensorValues, gigabytes(kMaxTensorValues)),
            "use a smaller batch_size, fewer filters or units, or downsample sooner");
}

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
    auto add_reg = [&](Value term) {
        regularization = regularization.valid() ? regularization + term : term;
    };

    for (const LayerSpec & l : spec.model.layers) {
        g.set_location(l.loc);
        sink.layer = &l;
        std::vector<Value> inputs;
        for (const std::string & name : l.inputs) inputs.push_back(values.at(name));
        if (inputs.empty()) inputs.push_back(current);
        Value in = inputs[0];
        Value out, pre;
        std::string act = "linear";
        if (l.type == "dense") {
            const Shape s = in.shape();
            if (s.rank() != 2)
                layer_error(l, fmt::format("expects [batch, features] input, got {}", shape_text(s)),
                            "add a flatten layer before it");
            Value w = sink.make(g, l.name + "/kernel", Shape{s[1], l.units}, l.kernel_initializer, spec.seed,
                                s[1], l.units);
            pre = g.op("matmul", {in, w});
            if (l.use_bias) {
                Value b = sink.make(g, l.name + "/bias", Shape{l.units}, l.bias_initializer, spec.seed, s[1],
                                    l.units);
                pre = g.op("bias_add", {pre, b});
            }
            if (mode == GraphMode::train && l.l2 > 0)
                add_reg(g.op("sum", {w * w}) * static_cast<float>(l.l2));
            if (mode == GraphMode::train && l.l1 > 0)
                add_reg(g.op("sum", {g.op("abs", {w})}) * static_cast<float>(l.l1));
            act = l.activation;
            out = activate(g, pre, act);
        } else if (l.type == "conv2d" || l.type == "depthwise_conv2d") {
            const Shape s = in.shape();
            if (s.rank() != 4)
                layer_error(
                    l, fmt::format("expects [batch, height, width, channels] input, got {}", shape_text(s)),
                    s.rank() == 3
                        ? fmt::format("give the input a channel axis: input: [{}, {}, 1]", s[1], s[2])
                        : std::string("reshape the input to [height, width, channels]"));
            const int64_t channels = s[3];
            const bool depthwise = l.type == "depthwise_conv2d";
            const int64_t groups = depthwise ? channels : l.groups;
            const int64_t filters = depthwise ? channels * l.depth_multiplier : l.filters;
            if (channels % groups != 0 || filters % groups != 0)
                layer_error(l, fmt::format("groups {} must divide the {} input channels and the {} filters",
                                           groups, channels, filters));
            const int64_t field = l.kernel_size[0] * l.kernel_size[1];
            // Keras' fans: receptive field times input channels (per group) and times output channels.
            const int64_t fan_in = field * (depthwise ? channels : channels / groups);
            const int64_t fan_out = field * (depthwise ? l.depth_multiplier : filters);
            Value w = sink.make(g, l.name + "/kernel",
                                Shape{l.kernel_size[0], l.kernel_size[1], channels / groups, filters},
                                l.kernel_initializer, spec.seed, fan_in, fan_out);
            pre = g.op("conv2d", {in, w},
                       {{"strides", l.strides},
                        {"dilation", l.dilation_rate},
                        {"padding", l.padding},
                        {"groups", groups}});
            if (l.use_bias) {
                Value b = sink.make(g, l.name + "/bias", Shape{filters}, l.bias_initializer, spec.seed,
                                    fan_in, fan_out);
                pre = g.op("bias_add", {pre, b});
            }
            if (mode == GraphMode::train && l.l2 > 0)
                add_reg(g.op("sum", {w * w}) * static_cast<float>(l.l2));
            if (mode == GraphMode::train && l.l1 > 0)
                add_reg(g.op("sum", {g.op("abs", {w})}) * static_cast<float>(l.l1));
            act = l.activation;
            out = activate(g, pre, act);
        } else if (l.type == "max_pool2d" || l.type == "avg_pool2d" || l.type == "global_avg_pool2d" ||
                   l.type == "zero_padding2d") {
            const Shape s = in.shape();
            if (s.rank() != 4)
                layer_error(
                    l, fmt::format("expects [batch, height, width, channels] input, got {}", shape_text(s)));
            if (l.type == "global_avg_pool2d") {
                out = g.op("global_avg_pool2d", {in});
            } else if (l.type == "zero_padding2d") {
                const auto & z = l.zero_padding;
                // Checked here: the padded shape is computed (and could wrap around) before any later check.
                check_output(l, Shape{s[0], s[1] + z[0] + z[1], s[2] + z[2] + z[3], s[3]});
                out = g.op("pad", {in},
                           {{"before", std::vector<int64_t>{0, z[0], z[2], 0}},
                            {"after", std::vector<int64_t>{0, z[1], z[3], 0}}});
            } else {
                out = g.op(l.type, {in},
                           {{"pool", l.pool_size}, {"strides", l.strides}, {"padding", l.padding}});
            }
        } else if (l.type == "batch_norm" || l.type == "layer_norm") {
            const Shape s = in.shape();
            const int64_t c = s[s.rank() - 1];
            Value gamma = l.scale ? sink.make(g, l.name + "/gamma", Shape{c}, "ones", spec.seed, c, c)
                                  : sink.filled(g, c, 1.0f);
            Value beta = l.center ? sink.make(g, l.name + "/beta", Shape{c}, "zeros", spec.seed, c, c)
                                  : sink.filled(g, c, 0.0f);
            const Attrs eps = {{"epsilon", l.epsilon}};
            if (l.type == "layer_norm") {
                out = g.op("layer_norm", {in, gamma, beta}, eps);
            } else {
                Value mean = sink.make(g, l.name + "/moving_mean", Shape{c}, "zeros", spec.seed, c, c, false);
                Value var =
                    sink.make(g, l.name + "/moving_variance", Shape{c}, "ones", spec.seed, c, c, false);
                if (mode == GraphMode::train) {
                    // Training normalises with the batch's statistics and moves the averages towards them, as
                    // Keras.
                    out = g.op("batch_norm_train", {in, gamma, beta}, eps);
                    Value stats = g.op("moments", {in});
                    auto row = [&](int64_t r) {
                        Value v = g.op(
                            "slice", {stats},
                            {{"begin", std::vector<int64_t>{r, 0}}, {"size", std::vector<int64_t>{1, c}}});
                        return g.op("reshape", {v}, {{"shape", std::vector<int64_t>{c}}});
                    };
                    const float m = static_cast<float>(l.momentum);
                    g.mark_output("update/" + l.name + "/moving_mean", mean * m + row(0) * (1.0f - m));
                    g.mark_output("update/" + l.name + "/moving_variance", var * m + row(1) * (1.0f - m));
                } else {
                    out = g.op("batch_norm", {in, gamma, beta, mean, var}, eps);
                }
            }
        } else if (l.type == "embedding") {
            Value ids = g.op("cast", {in}, {{"dtype", std::string("i32")}});
            Value table = sink.make(g, l.name + "/embeddings", Shape{l.input_dim, l.output_dim},
                                    "uniform_0.05", spec.seed, l.input_dim, l.output_dim);
            out = g.op("embedding", {table, ids});
        } else if (l.type == "activation") {
            pre = in;
            act = l.activation;
            out = activate(g, in, act);
        } else if (l.type == "dropout") {
            out = (mode == GraphMode::train && l.rate > 0)
                      ? g.op("dropout", {in},
                             {{"rate", l.rate}, {"key", static_cast<int64_t>(Rng::stream(l.name) >> 1)}})
                      : in;
        } else if (l.type == "flatten") {
            out = g.op("reshape", {in}, {{"shape", std::vector<int64_t>{batch, -1}}});
        } else if (l.type == "reshape") {
            // The op multiplies the extents (up to 8 of 2^24 each): checked here, where it cannot wrap
            // around.
            std::vector<int64_t> extents = l.target_shape;
            std::replace(extents.begin(), extents.end(), int64_t{-1}, int64_t{1});  // -1: inferred
            if (values_of(extents) > kMaxTensorValues)
                layer_error(l, fmt::format("target_shape {} holds more than {} values",
                                           to_string(Shape(l.target_shape)), kMaxTensorValues));
            std::vector<int64_t> shape = {batch};
            shape.insert(shape.end(), l.target_shape.begin(), l.target_shape.end());
            out = g.op("reshape", {in}, {{"shape", shape}});
        } else if (l.type == "add") {
            if (inputs.size() < 2) layer_error(l, "needs at least two inputs (inputs: [a, b])");
            out = inputs[0];
            for (size_t i = 1; i < inputs.size(); ++i) {
                if (inputs[i].shape() != inputs[0].shape())
                    layer_error(l, fmt::format("inputs '{}' {} and '{}' {} have different shapes",
                                               l.inputs[0], shape_text(inputs[0].shape()), l.inputs[i],
                                               shape_text(inputs[i].shape())));
                out = out + inputs[i];
            }
        } else if (l.type == "concat") {
            if (inputs.size() < 2) layer_error(l, "needs at least two inputs (inputs: [a, b])");
            const Shape first = inputs[0].shape();
            const int axis = normalize_axis(l.axis, first.rank());
            if (axis <= 0)
                layer_error(l, fmt::format("axis {} is not a feature axis of {}", l.axis, shape_text(first)));
            for (size_t i = 1; i < inputs.size(); ++i) {
                Shape other = inputs[i].shape(), a = first;
                bool fits = other.rank() == a.rank();
                if (fits) {
                    other[axis] = a[axis] = 0;
                    fits = other == a;
                }
                if (!fits)
                    layer_error(
                        l,
                        fmt::format("inputs '{}' {} and '{}' {} cannot be joined along axis {}", l.inputs[0],
                                    shape_text(first), l.inputs[i], shape_text(inputs[i].shape()), l.axis),
                        "concat needs the same rank and equal sizes on every other axis");
            }
            out = g.op("concat", inputs, {{"axis", l.axis}});
        }
        check_output(l, out.shape());
        values[l.name] = out;
        current = out;
        last_activation = act;
        logits = pre;
    }
    const LayerSpec & last = spec.model.layers.back();
    g.set_location(last.loc);
    Value prediction = current;
    g.mark_output("prediction", prediction);
    if (mode == GraphMode::predict) return g;

    const Shape ps = prediction.shape();
    const LossSpec & loss_spec = spec.train.loss;
    const std::string & loss_name = loss_spec.name;
    Value loss;
    if (ps.rank() != 2)
        layer_error(last, fmt::format("the model's output must be [batch, units], got {}", shape_text(ps)));
    if (info.classification) {
        Value y = g.input("y", Shape{batch}, DType::i32);
        if (ps[1] != info.classes)
            layer_error(
                last, fmt::format("the output has {} units but the data has {} classes", ps[1], info.classes),
                fmt::format("use units: {}", info.classes));
        Value z;
        if (loss_spec.from_logits) {
            z = prediction;
        } else if (last_activation == "softmax" && logits.valid()) {
            z = logits;  // softmax + crossentropy fused for stability, as Keras does
        } else {
            layer_error(last,
                        fmt::format("{} expects probabilities from a softmax output, got activation '{}'",
                                    loss_name, last_activation),
                        "use activation: softmax on the last layer, or loss: {name: ..., from_logits: true}");
        }
        if (loss_name == "sparse_categorical_crossentropy") {
            loss = g.op("sparse_categorical_crossentropy", {z, y});
        } else {
            Value onehot = g.op("one_hot", {y}, {{"depth", info.classes}});
            loss = g.op("categorical_crossentropy", {z, onehot}, {{"from_logits", int64_t{1}}});
        }
    } else {
        Value y = g.input("y", Shape{batch, info.targets});
        if (ps[1] != info.targets)
            layer_error(last,
                        fmt::format("the output has {} units but the data has {} target column(s)", ps[1],
                                    info.targets),
                        fmt::format("use units: {}", info.targets));
        if (loss_name == "mse") {
            loss = g.op("mse", {prediction, y});
        } else if (loss_name == "mae") {
            loss = g.op("mae", {prediction, y});
        } else if (loss_name == "huber") {
            loss = g.op("huber", {prediction, y}, {{"delta", loss_spec.delta}});
        } else if (loss_name == "binary_crossentropy") {
            if (!loss_spec.from_logits && last_activation == "sigmoid" && logits.valid())
                loss = g.op("binary_crossentropy", {logits, y}, {{"from_logits", int64_t{1}}});
            else
                loss = g.op("binary_crossentropy", {prediction, y},
                            {{"from_logits", int64_t{loss_spec.from_logits}}});
        }
    }
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
