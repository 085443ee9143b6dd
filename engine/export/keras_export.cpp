// model.h5: a trained version as Keras' legacy HDF5 model, in the dialect tf.keras 2 writes
// (`model.save("x.h5")`), which tf.keras 2 and Keras 3's legacy loader (`tf.keras.models.load_model` of an
// .h5 file) both read without custom objects:
//   /                       attrs model_config (JSON), keras_version, backend
//   /model_weights          attrs layer_names, keras_version, backend
//   /model_weights/<layer>  attr weight_names ["<layer>/kernel:0", ...]; datasets <layer>/kernel:0, ...
// Note [keras weight order]: the loader matches weights to layers by position, not by name: the layers with a
// non-empty weight_names, in layer_names order, against the model's layers that have weights, and within a
// layer its trainable weights before the non-trainable ones (BatchNormalization: gamma, beta, moving_mean,
// moving_variance).
// The layers reproduce the engine's inference graph, so the file predicts what `dlctl predict` does on the
// same raw rows: the input normalisation is a Normalization layer with the saved statistics as its weights
// (variance = scale², whose float32 square root is scale again, bit for bit), dropout is Keras' Dropout (the
// identity when predicting), and the activations Keras spells differently are built from Keras' layers.
#include <hdf5.h>

#include <cmath>
#include <cstring>
#include <map>
#include <numbers>
#include <optional>
#include <set>

#include "core/fs.h"
#include "export/export.h"
#include "io/h5file.h"
#include "model/keras_layer.h"
#include "spec/layer_def.h"

namespace dl {

namespace {

using Json = nlohmann::ordered_json;

// The tf.keras release whose configuration dialect model_config follows.
constexpr const char * kKerasVersion = "2.15.0";
constexpr const char * kKerasBackend = "tensorflow";

struct KerasLayer {
    std::string class_name, name;
    Json config;  // the layer's own options; name, trainable and dtype are added when written
    std::vector<std::string> inbound;  // names of the Keras layers it is called on (empty for the InputLayer)
    std::vector<KerasWeight> weights;  // in the loader's order, Note [keras weight order]
};

// Builds the Keras layer list from the spec's layers, in the order the engine builds its graph.
class KerasModelBuilder {
public:
    explicit KerasModelBuilder(const TrainedModel & m) : m_(m) {
        // The spec's names stay the Keras names; layers added here take other names.
        for (const LayerSpec & l : m.spec.model.layers) taken_.insert(l.name);
    }

    std::vector<KerasLayer> build() {
        add_input();
        for (const LayerSpec & l : m_.spec.model.layers) add_layer(l);
        return std::move(layers_);
    }

private:
    const TrainedModel & m_;
    std::vector<KerasLayer> layers_;
    std::set<std::string> taken_;
    // The Keras layer whose output is a spec layer's value (and "input"'s, the normalised input).
    std::map<std::string, std::string> output_of_;
    std::string current_;

    std::string fresh_name(const std::string & base) {
        std::string name = base;
        for (int i = 1; taken_.count(name) != 0; ++i) name = fmt::format("{}_{}", base, i);
        taken_.insert(name);
        return name;
    }

    const std::string & add(const std::string & class_name, const std::string & name, Json config,
                            std::vector<std::string> inbound, std::vector<KerasWeight> weights = {}) {
        layers_.push_back({.class_name = class_name,
                           .name = name,
                           .config = std::move(config),
                           .inbound = std::move(inbound),
                           .weights = std::move(weights)});
        current_ = layers_.back().name;
        return current_;
    }

    const Tensor & param(const LayerSpec & l, const std::string & what) const {
        const std::string name = l.name + "/" + what;
        if (!m_.params.has(name))
            throw Error(ExitCode::internal, fmt::format("the trained model has no parameter '{}'", name));
        return m_.params.at(name);
    }

    // Raw rows in the sample's shape, rescaled and normalised as the Predictor does, then shaped as
    // model.input says.
    void add_input() {
        const std::vector<int64_t> & sample = m_.info.sample_shape;
        std::vector<int64_t> shape = sample;
        Json batch_shape = Json::array({nullptr});
        for (int64_t d : sample) batch_shape.push_back(d);
        add("InputLayer", fresh_name(kInputName),
            {{"batch_input_shape", batch_shape}, {"dtype", "float32"}, {"sparse", false}, {"ragged", false}},
            {});
        // data.rescale (1/255 for 8-bit images) is applied before the statistics, as when training read the
        // data.
        if (m_.spec.data.rescale != 1.0)
            add("Rescaling", fresh_name("rescaling"), {{"scale", m_.spec.data.rescale}, {"offset", 0.0}},
                {current_});
        const Normalizer & norm = m_.normalizer;
        if (norm.method != "none") {
            const int64_t features = m_.info.features;
            DL_CHECK(static_cast<int64_t>(norm.offset.size()) == features &&
                         static_cast<int64_t>(norm.scale.size()) == features,
                     ExitCode::internal, "the normalisation has {} offsets and {} scales for {} features",
                     norm.offset.size(), norm.scale.size(), features);
            // Keras 3's legacy loader keeps only a single `axis`: the statistics go on a flat feature axis.
            if (shape.size() != 1) {
                shape = {features};
                add("Reshape", fresh_name("flatten_input"), {{"target_shape", shape}}, {current_});
            }
            KerasWeight mean{.name = "mean", .dims = {features}, .values = norm.offset};
            KerasWeight variance{.name = "variance", .dims = mean.dims};
            for (float s : norm.scale) variance.values.push_back(s * s);
            KerasWeight count{.name = "count", .count = 0};
            add("Normalization", fresh_name("normalization"), {{"axis", -1}, {"invert", false}}, {current_},
                {std::move(mean), std::move(variance), std::move(count)});
        }
        if (m_.spec.model.input != shape)
            add("Reshape", fresh_name("reshape_input"), {{"target_shape", m_.spec.model.input}}, {current_});
        output_of_["input"] = current_;
    }

    // Appends the activation `act` after the layer `input`; the last layer added is named `name`.
    void add_activation(const LayerSpec & l, const std::string & act, const std::string & name,
                        const std::string & input) {
        if (act == "leaky_relu") {
            // Keras' "leaky_relu" function has slope 0.2; its LeakyReLU layer has the engine's 0.3 (the
            // default in tf.keras 2 and Keras 3, whose option names differ, so it is left to the default).
            add("LeakyReLU", name, Json::object(), {input});
        } else if (act == "gelu") {
            add_tanh_gelu(name, input);
        } else if (keras_activation(act)) {
            add("Activation", name, {{"activation", act}}, {input});
        } else {
            unsupported(l, fmt::format("Keras has no activation '{}'", act));
        }
    }

    static bool keras_activation(const std::string & act) {
        static const std::set<std::string> same_in_keras = {"linear",  "relu", "sigmoid",    "tanh",
                                                            "softmax", "elu",  "log_softmax"};
        return same_in_keras.count(act) != 0;
    }

    // The engine's gelu is the tanh form 0.5 x (1 + tanh(c (x + 0.044715 x³))) (ops/gelu.cpp); Keras' "gelu"
    // is the erf form, up to 5e-4 away, so the tanh form is spelled out in Keras' own layers.
    void add_tanh_gelu(const std::string & name, const std::string & x) {
        const auto c = static_cast<double>(static_cast<float>(std::sqrt(2.0 / std::numbers::pi)));
        const auto k = static_cast<double>(0.044715f);
        const std::string cube = add("Multiply", fresh_name(name + "_cube"), Json::object(), {x, x, x});
        const std::string cubic =
            add("Rescaling", fresh_name(name + "_cubic"), {{"scale", k}, {"offset", 0.0}}, {cube});
        const std::string sum = add("Add", fresh_name(name + "_sum"), Json::object(), {x, cubic});
        const std::string inner =
            add("Rescaling", fresh_name(name + "_inner"), {{"scale", c}, {"offset", 0.0}}, {sum});
        const std::string tanh =
            add("Activation", fresh_name(name + "_tanh"), {{"activation", "tanh"}}, {inner});
        const std::string half =
            add("Rescaling", fresh_name(name + "_half"), {{"scale", 0.5}, {"offset", 0.5}}, {tanh});
        add("Multiply", name, Json::object(), {x, half});
    }

    [[noreturn]] static void unsupported(const LayerSpec & l, const std::string & why) {
        const std::string who = l.name == l.type ? fmt::format("layer '{}'", l.name)
                                                 : fmt::format("layer '{}' ({})", l.name, l.type);
        throw Error(ExitCode::bad_input,
                    format_at(l.loc, fmt::format("{}: cannot be exported to Keras: {}", who, why),
                              "export the other formats with --format onnx,native"));
    }

    // Dense and the convolutions: Keras' activations go in the layer, the others follow it as layers.
    void add_weighted(const LayerSpec & l, const std::string & class_name, Json config,
                      std::vector<KerasWeight> weights, const std::vector<std::string> & inbound) {
        const std::string & activation = l.text("activation");
        const bool inline_activation = keras_activation(activation);
        config["activation"] = inline_activation ? activation : "linear";
        config["use_bias"] = l.flag("use_bias");
        if (l.flag("use_bias")) weights.push_back(weight_from(l, "bias", "bias"));
        add(class_name, l.name, std::move(config), inbound, std::move(weights));
        if (!inline_activation) add_activation(l, activation, fresh_name(l.name + "_" + activation), l.name);
    }

    KerasWeight weight_from(const LayerSpec & l, const std::string & name, const std::string & what) const {
        const Tensor & t = param(l, what);
        return {
            .name = name, .dims = t.shape().dims, .values = std::vector<float>(t.f32(), t.f32() + t.numel())};
    }

    // What a layer's keras function (model/keras_layer.h) writes through: this builder, for one layer.
    class LayerWriter final : public KerasLayerWriter {
    public:
        LayerWriter(KerasModelBuilder & builder, const LayerSpec & l, std::vector<std::string> inbound)
            : builder_(builder), layer_(l), inbound_(std::move(inbound)) {}
        const LayerSpec & layer() const override { return layer_; }
        void add(const std::string & class_name, Json config, std::vector<KerasWeight> weights) override {
            builder_.add(class_name, layer_.name, std::move(config), inbound_, std::move(weights));
        }
        void add_weighted(const std::string & class_name, Json config,
                          std::vector<KerasWeight> weights) override {
            builder_.add_weighted(layer_, class_name, std::move(config), std::move(weights), {inbound_[0]});
        }
        void add_activation(const std::string & activation) override {
            builder_.add_activation(layer_, activation, layer_.name, inbound_[0]);
        }
        KerasWeight weight(const std::string & name, const std::string & param) const override {
            return builder_.weight_from(layer_, name, param);
        }
        using KerasLayerWriter::weight;
        [[noreturn]] void unsupported(const std::string & why) const override {
            builder_.unsupported(layer_, why);
        }

    private:
        KerasModelBuilder & builder_;
        const LayerSpec & layer_;
        std::vector<std::string> inbound_;
    };

    void add_layer(const LayerSpec & l) {
        std::vector<std::string> inbound;
        for (const std::string & name : l.inputs) inbound.push_back(output_of_.at(name));
        if (inbound.empty()) inbound.push_back(current_);
        const LayerDef * def = find_layer(l.type);
        if (def == nullptr || def->keras == nullptr) unsupported(l, "Keras has no such layer");
        LayerWriter writer(*this, l, std::move(inbound));
        def->keras(writer);
        output_of_[l.name] = current_;
    }
};

Json layer_config(const KerasLayer & k) {
    Json config = {{"name", k.name}};
    if (k.class_name != "InputLayer") {
        config["trainable"] = true;
        config["dtype"] = "float32";
    }
    for (auto & [key, value] : k.config.items()) config[key] = value;
    return config;
}

// Sequential when each layer takes the one before it, else a functional model with tf.keras 2's
// inbound_nodes.
Json model_config(const std::string & model_name, const std::vector<KerasLayer> & layers) {
    bool chain = true;
    for (size_t i = 1; i < layers.size(); ++i)
        chain = chain && layers[i].inbound == std::vector<std::string>{layers[i - 1].name};
    Json list = Json::array();
    for (const KerasLayer & k : layers) {
        Json entry = {{"class_name", k.class_name}, {"config", layer_config(k)}};
        if (!chain) {
            entry["name"] = k.name;
            Json node = Json::array();
            for (const std::string & from : k.inbound)
                node.push_back(Json::array({from, 0, 0, Json::object()}));
            entry["inbound_nodes"] = k.inbound.empty() ? Json::array() : Json::array({node});
        }
        list.push_back(std::move(entry));
    }
    Json config = {{"name", model_name}, {"layers", std::move(list)}};
    if (!chain) {
        config["input_layers"] = Json::array({Json::array({layers.front().name, 0, 0})});
        config["output_layers"] = Json::array({Json::array({layers.back().name, 0, 0})});
    }
    return {{"class_name", chain ? "Sequential" : "Functional"}, {"config", std::move(config)}};
}

// HDF5: attribute types as h5py stores what tf.keras 2 hands it.

struct H5Handle {
    hid_t id = -1;
    herr_t (*close)(hid_t) = nullptr;
    H5Handle(hid_t i, herr_t (*c)(hid_t)) : id(i), close(c) {}
    ~H5Handle() {
        if (id >= 0) close(id);
    }
    H5Handle(const H5Handle &) = delete;
    H5Handle & operator=(const H5Handle &) = delete;
    operator hid_t() const { return id; }
};

class KerasH5Writer {
public:
    explicit KerasH5Writer(std::string path) : path_(std::move(path)) {}

    hid_t opened(hid_t id, const std::string & what) const {
        if (id < 0) throw Error(ExitCode::io, fmt::format("{}: HDF5 failed to {}", path_, what));
        return id;
    }
    void ok(herr_t rc, const char * what) const {
        if (rc < 0) throw Error(ExitCode::io, fmt::format("{}: HDF5 failed to {}", path_, what));
    }

    // Python bytes (numpy.bytes_): a fixed-length, null-padded string.
    void fixed_string(hid_t obj, const std::string & name, const std::string & value) const {
        H5Handle type(fixed_string_type(value.size()), H5Tclose);
        H5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
        const std::string padded = value.empty() ? std::string(1, '\0') : value;
        write_attr(obj, name, type, space, padded.data());
    }

    // A list of Python bytes (numpy "S" array): fixed-length strings as long as the longest; an empty list is
    // numpy's empty float64 array, as tf.keras writes a layer without weights.
    // `width`: at least that wide (the chunks of one numpy array share its width).
    void fixed_strings(hid_t obj, const std::string & name, const std::vector<std::string> & values,
                       size_t width = 1) const {
        const hsize_t n = values.size();
        H5Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
        if (values.empty()) {
            const double none = 0;
            write_attr(obj, name, H5T_IEEE_F64LE, space, &none);
            return;
        }
        for (const std::string & v : values) width = std::max(width, v.size());
        std::vector<char> buffer(width * values.size(), '\0');
        for (size_t i = 0; i < values.size(); ++i)
            std::memcpy(buffer.data() + i * width, values[i].data(), values[i].size());
        H5Handle type(fixed_string_type(width), H5Tclose);
        write_attr(obj, name, type, space, buffer.data());
    }

    // A list of names as Keras' save_attributes_to_hdf5_group stores it: one attribute while its bytes fit
    // an HDF5 object header message (64512 bytes, Keras' HDF5_OBJECT_HEADER_LIMIT), else numpy.array_split's
    // chunks as <name>0, <name>1, ..., each within the limit, which Keras' loader reads back in order.
    void name_list(hid_t obj, const std::string & name, const std::vector<std::string> & values) const {
        constexpr size_t kHeaderLimit = 64512;
        size_t width = 1;
        for (const std::string & v : values) width = std::max(width, v.size());
        if (width > kHeaderLimit)
            throw Error(ExitCode::io,
                        fmt::format("{}: a name in {} is over {} bytes", path_, name, kHeaderLimit));
        const size_t n = values.size();
        size_t chunks = 1;
        while ((n + chunks - 1) / chunks * width > kHeaderLimit) ++chunks;
        if (chunks == 1) {
            fixed_strings(obj, name, values);
            return;
        }
        // array_split: the first n % chunks parts one longer than the rest.
        size_t begin = 0;
        for (size_t c = 0; c < chunks; ++c) {
            const size_t size = n / chunks + (c < n % chunks ? 1 : 0);
            std::vector<std::string> part(values.begin() + static_cast<std::ptrdiff_t>(begin),
                                          values.begin() + static_cast<std::ptrdiff_t>(begin + size));
            fixed_strings(obj, fmt::format("{}{}", name, c), part, width);
            begin += size;
        }
    }

    // Python str: a variable-length UTF-8 string.
    void text(hid_t obj, const std::string & name, const std::string & value) const {
        H5Handle type(opened(H5Tcopy(H5T_C_S1), "copy a type"), H5Tclose);
        ok(H5Tset_size(type, H5T_VARIABLE), "size a string type");
        ok(H5Tset_cset(type, H5T_CSET_UTF8), "set a string's character set");
        H5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
        const char * data = value.c_str();
        write_attr(obj, name, type, space, &data);
    }

    hid_t group(hid_t parent, const std::string & name) const {
        H5Handle gcpl(H5Pcreate(H5P_GROUP_CREATE), H5Pclose);
        H5Pset_obj_track_times(gcpl, false);  // no timestamps: the same model gives the same bytes
        return opened(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, gcpl, H5P_DEFAULT),
                      "create group " + name);
    }

    void dataset(hid_t parent, const std::string & name, const KerasWeight & w) const {
        const std::vector<hsize_t> dims(w.dims.begin(), w.dims.end());
        H5Handle space(dims.empty() ? H5Screate(H5S_SCALAR)
                                    : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                       H5Sclose);
        H5Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
        H5Pset_obj_track_times(dcpl, false);
        const hid_t file_type = w.count ? H5T_STD_I64LE : H5T_IEEE_F32LE;
        const hid_t memory_type = w.count ? H5T_NATIVE_INT64 : H5T_NATIVE_FLOAT;
        const void * data =
            w.count ? static_cast<const void *>(&*w.count) : static_cast<const void *>(w.values.data());
        H5Handle ds(opened(H5Dcreate2(parent, name.c_str(), file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
                           "create dataset " + name),
                    H5Dclose);
        ok(H5Dwrite(ds, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "write a dataset");
    }

private:
    std::string path_;

    hid_t fixed_string_type(size_t size) const {
        const hid_t type = opened(H5Tcopy(H5T_C_S1), "copy a type");
        H5Tset_size(type, std::max<size_t>(1, size));
        H5Tset_strpad(type, H5T_STR_NULLPAD);
        return type;
    }

    void write_attr(hid_t obj, const std::string & name, hid_t type, hid_t space, const void * data) const {
        H5Handle attr(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
        if (attr.id < 0)
            throw Error(ExitCode::io,
                        fmt::format("{}: HDF5 failed to create attribute {} (over 64 KiB?)", path_, name));
        ok(H5Awrite(attr, type, data), "write an attribute");
    }
};

void write_file(const std::string & path, hid_t file, const std::string & config,
                const std::vector<KerasLayer> & layers) {
    const KerasH5Writer w(path);
    // A str, as Keras 3 writes it: kept in the global heap, not in the object header, so no 64 KiB bound.
    // tf.keras 2 writes bytes, a fixed-length string inside the header, which held about 170 dense layers;
    // both loaders read either.
    w.text(file, "model_config", config);
    w.text(file, "keras_version", kKerasVersion);
    w.text(file, "backend", kKerasBackend);
    H5Handle weights(w.group(file, "model_weights"), H5Gclose);
    std::vector<std::string> names;
    for (const KerasLayer & k : layers) names.push_back(k.name);
    w.name_list(weights, "layer_names", names);
    w.fixed_string(weights, "backend", kKerasBackend);
    w.fixed_string(weights, "keras_version", kKerasVersion);
    for (const KerasLayer & k : layers) {
        H5Handle layer(w.group(weights, k.name), H5Gclose);
        std::vector<std::string> weight_names;
        for (const KerasWeight & kw : k.weights)
            weight_names.push_back(fmt::format("{}/{}:0", k.name, kw.name));
        w.name_list(layer, "weight_names", weight_names);
        if (k.weights.empty()) continue;
        H5Handle inner(w.group(layer, k.name), H5Gclose);
        for (const KerasWeight & kw : k.weights) w.dataset(inner, kw.name + ":0", kw);
    }
}

}  // namespace

void write_keras_h5(const std::string & path, const TrainedModel & model) {
    const std::vector<KerasLayer> layers = KerasModelBuilder(model).build();
    const std::string config = model_config(model.run.name.empty() ? "model" : model.run.name, layers).dump();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors are reported as dl::Error
    // Built in memory and written by write_file_atomic (Note [h5 integrity] in io/h5file.h): a full disk is a
    // plain write error, never a failure inside HDF5's flush or close.
    const std::string image =
        h5_file_image([&](hid_t file) { write_file(path, file, config, layers); }, /*userblock=*/0, path);
    write_file_atomic(path, image);
}

}  // namespace dl
