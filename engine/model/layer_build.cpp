#include "model/layer_build.h"

#include <algorithm>
#include <cmath>

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

}  // namespace

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

void layer_error(const LayerSpec & l, const std::string & message, const std::string & note) {
    const std::string who =
        l.name == l.type ? fmt::format("layer '{}'", l.name) : fmt::format("layer '{}' ({})", l.name, l.type);
    throw Error(ExitCode::bad_input, format_at(l.loc, fmt::format("{}: {}", who, message), note));
}

std::string shape_text(const Shape & s) {
    std::string out = "[batch";
    for (int d = 1; d < s.rank(); ++d) out += fmt::format(", {}", s[d]);
    return out + "]";
}

Value ParamSink::make(Graph & g, const std::string & name, Shape shape, const std::string & init,
                      uint64_t seed, int64_t fan_in, int64_t fan_out, bool is_trainable) {
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
            fmt::format("the model needs {} of parameters ({} values) up to this layer, over the limit of "
                        "{} ({} values)",
                        gigabytes(values), values, gigabytes(kMaxParameterValues), kMaxParameterValues),
            "use fewer units or filters, or a smaller input");
    if (is_trainable) trainable.insert(name);
    if (store && !store->has(name))
        initialize(store->add(name, shape, is_trainable), init, name, seed, fan_in, fan_out);
    return g.param(name, std::move(shape));
}

Value ParamSink::filled(Graph & g, int64_t n, float value) {
    if (!store)  // a constant's shape, no memory
        return g.input(fmt::format("shape-only/{}/{}", layer->name, value), Shape{n});
    Tensor t(Shape{n});
    std::fill(t.f32(), t.f32() + n, value);
    return g.constant(std::move(t));
}

// A layer's output: one sample at most kMaxTensorValues values, and the whole batch too.
void LayerBuild::check_output(const Shape & s) const {
    const LayerSpec & l = layer;
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

Value LayerBuild::param(const std::string & what, Shape shape, const std::string & init, int64_t fan_in,
                        int64_t fan_out, bool trainable) {
    return sink.make(g, layer.name + "/" + what, std::move(shape), init, spec.seed, fan_in, fan_out,
                     trainable);
}

void LayerBuild::regularize(Value term) {
    regularization = regularization.valid() ? regularization + term : term;
}

void LayerBuild::activate(Value before, const std::string & name) {
    pre = before;
    activation = name;
    out = name == "linear" ? before : g.op(name, {before});
}

void LayerBuild::weighted_output(Value product, Value kernel, int64_t units, int64_t fan_in,
                                 int64_t fan_out) {
    Value z = product;
    if (layer.flag("use_bias"))
        z = g.op("bias_add",
                 {z, param("bias", Shape{units}, layer.text("bias_initializer"), fan_in, fan_out)});
    if (training() && layer.number("l2") > 0)
        regularize(g.op("sum", {kernel * kernel}) * static_cast<float>(layer.number("l2")));
    if (training() && layer.number("l1") > 0)
        regularize(g.op("sum", {g.op("abs", {kernel})}) * static_cast<float>(layer.number("l1")));
    activate(z, layer.text("activation"));
}

int64_t LayerBuild::image_input(const std::string & note) const {
    const Shape s = in().shape();
    if (s.rank() != 4)
        fail(fmt::format("expects [batch, height, width, channels] input, got {}", shape_text(s)), note);
    return s[3];
}

void LayerBuild::fail(const std::string & message, const std::string & note) const {
    layer_error(layer, message, note);
}

void LossBuild::fail(const std::string & message, const std::string & note) const {
    layer_error(last, message, note);
}

Value LossBuild::class_logits() const {
    if (spec.from_logits) return prediction;
    if (last_activation == "softmax" && logits.valid()) return logits;
    fail(fmt::format("{} expects probabilities from a softmax output, got activation '{}'", spec.name,
                     last_activation),
         "use activation: softmax on the last layer, or loss: {name: ..., from_logits: true}");
}

}  // namespace dl
