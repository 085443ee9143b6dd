// model.h5 in Keras' legacy HDF5 layout, read back with the HDF5 C API: the model_config JSON, layer_names,
// and the weight datasets with their names, shapes and values. (tests/cli/test_slow_export_keras.sh loads the
// files in TensorFlow and compares its predictions with dlctl's.)
#include <doctest/doctest.h>
#include <hdf5.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "export/export.h"

namespace {
using namespace dl;

TrainedModel make_model(const std::string & layers_yaml, std::vector<int64_t> sample_shape, std::string input,
                        const std::string & normalize = "none") {
    TrainedModel m;
    m.spec = parse_spec(fmt::format(R"(
name: tiny
data: {{path: datasets/housing.csv, target: MEDV}}
model:
  input: {}
  layers:
{}
train: {{loss: mse}}
)",
                                    input, layers_yaml),
                        "tiny.yaml", DLCTL_SOURCE_DIR);
    m.run.name = "tiny";
    m.info = data_info_for(m.spec, std::move(sample_shape), 1, 0);
    build_model_graph(m.spec, m.info, 1, GraphMode::predict,
                      m.params);  // creates and initialises the parameters
    m.normalizer.method = normalize;
    for (int64_t i = 0; i < m.info.features; ++i) {
        m.normalizer.offset.push_back(normalize == "none" ? 0.0f : 0.5f * static_cast<float>(i));
        m.normalizer.scale.push_back(normalize == "none" ? 1.0f : 1.0f + static_cast<float>(i));
    }
    return m;
}

std::string temp_file(const char * name) {
    return (std::filesystem::temp_directory_path() / fmt::format("dlctl-keras-{}-{}", ::getpid(), name))
        .string();
}

// The little of h5py's view of a file these checks need.
struct H5Reader {
    hid_t file;
    explicit H5Reader(const std::string & path) : file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT)) {
        REQUIRE(file >= 0);
    }
    ~H5Reader() { H5Fclose(file); }

    std::vector<std::string> strings(const std::string & object, const std::string & name) const {
        const hid_t attr = H5Aopen_by_name(file, object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
        REQUIRE(attr >= 0);
        const hid_t type = H5Aget_type(attr), space = H5Aget_space(attr);
        std::vector<std::string> out;
        const auto n = static_cast<size_t>(H5Sget_simple_extent_npoints(space));
        if (H5Tget_class(type) == H5T_STRING && H5Tis_variable_str(type) > 0) {
            char * value = nullptr;
            REQUIRE(H5Aread(attr, type, &value) >= 0);
            out.emplace_back(value);
            H5free_memory(value);
        } else if (H5Tget_class(type) == H5T_STRING) {
            const size_t width = H5Tget_size(type);
            std::vector<char> buffer(width * n);
            REQUIRE(H5Aread(attr, type, buffer.data()) >= 0);
            for (size_t i = 0; i < n; ++i)
                out.emplace_back(buffer.data() + i * width, strnlen(buffer.data() + i * width, width));
        } else {
            CHECK(n == 0);  // a layer without weights: an empty (float64) list
        }
        H5Sclose(space);
        H5Tclose(type);
        H5Aclose(attr);
        return out;
    }
    bool has(const std::string & object, const std::string & name) const {
        return H5Aexists_by_name(file, object.c_str(), name.c_str(), H5P_DEFAULT) > 0;
    }
    std::string string(const std::string & object, const std::string & name) const {
        const std::vector<std::string> v = strings(object, name);
        REQUIRE(v.size() == 1);
        return v[0];
    }
    std::vector<int64_t> dims(const std::string & dataset) const {
        const hid_t ds = H5Dopen2(file, dataset.c_str(), H5P_DEFAULT);
        REQUIRE(ds >= 0);
        const hid_t space = H5Dget_space(ds);
        std::vector<hsize_t> d(static_cast<size_t>(H5Sget_simple_extent_ndims(space)));
        H5Sget_simple_extent_dims(space, d.data(), nullptr);
        H5Sclose(space);
        H5Dclose(ds);
        return {d.begin(), d.end()};
    }
    std::vector<float> floats(const std::string & dataset) const {
        const hid_t ds = H5Dopen2(file, dataset.c_str(), H5P_DEFAULT);
        const hid_t space = H5Dget_space(ds);
        std::vector<float> v(static_cast<size_t>(H5Sget_simple_extent_npoints(space)));
        REQUIRE(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) >= 0);
        H5Sclose(space);
        H5Dclose(ds);
        return v;
    }
};

std::vector<float> values(const Tensor & t) { return {t.f32(), t.f32() + t.numel()}; }

TEST_CASE("keras export: a chain of layers is a Sequential model with the normalisation as its first layer") {
    const TrainedModel m = make_model(R"(    - dense: {units: 4, activation: relu}
    - dropout: {rate: 0.5}
    - dense: {units: 1})",
                                      {3}, "[3]", "standard");
    const std::string path = temp_file("seq.h5");
    write_keras_h5(path, m);
    {
        const H5Reader h5(path);
        const auto config = nlohmann::json::parse(h5.string("/", "model_config"));
        CHECK(config["class_name"] == "Sequential");
        const auto & layers = config["config"]["layers"];
        REQUIRE(layers.size() == 5);
        CHECK(layers[0]["class_name"] == "InputLayer");
        CHECK(layers[0]["config"]["batch_input_shape"] == nlohmann::json::parse("[null, 3]"));
        CHECK(layers[1]["class_name"] == "Normalization");
        CHECK(layers[2]["config"]["name"] == "dense");
        CHECK(layers[2]["config"]["activation"] == "relu");
        CHECK(layers[3]["class_name"] == "Dropout");
        CHECK(layers[4]["config"]["units"] == 1);
        CHECK(h5.string("/", "backend") == "tensorflow");
        CHECK_FALSE(h5.string("/", "keras_version").empty());
        CHECK(h5.strings("/model_weights", "layer_names") ==
              std::vector<std::string>{"input", "normalization", "dense", "dropout", "dense_1"});
        CHECK(h5.strings("/model_weights/dense", "weight_names") ==
              std::vector<std::string>{"dense/kernel:0", "dense/bias:0"});
        CHECK(h5.strings("/model_weights/dropout", "weight_names").empty());
        CHECK(h5.dims("/model_weights/dense/dense/kernel:0") == std::vector<int64_t>{3, 4});
        CHECK(h5.floats("/model_weights/dense/dense/kernel:0") == values(m.params.at("dense/kernel")));
        CHECK(h5.floats("/model_weights/dense_1/dense_1/bias:0") == values(m.params.at("dense_1/bias")));
        CHECK(h5.strings("/model_weights/normalization", "weight_names") ==
              std::vector<std::string>{"normalization/mean:0", "normalization/variance:0",
                                       "normalization/count:0"});
        CHECK(h5.floats("/model_weights/normalization/normalization/mean:0") ==
              std::vector<float>{0.0f, 0.5f, 1.0f});
        CHECK(h5.floats("/model_weights/normalization/normalization/variance:0") ==
              std::vector<float>{1.0f, 4.0f, 9.0f});
    }
    std::filesystem::remove(path);
}

TEST_CASE(
    "keras export: skip connections make a functional model; batch_norm's weights in Keras' order; the "
    "depthwise kernel in Keras' layout") {
    const TrainedModel m = make_model(R"(    - conv2d: {name: stem, filters: 4, kernel_size: 3, padding: same}
    - depthwise_conv2d: {name: dw, kernel_size: 3, depth_multiplier: 2, padding: same}
    - batch_norm: {name: bn}
    - conv2d: {name: proj, filters: 8, kernel_size: 1}
    - add: {name: join, inputs: [bn, proj]}
    - global_avg_pool2d: {}
    - dense: {units: 1, activation: leaky_relu})",
                                      {6, 6}, "[6, 6, 1]");
    const std::string path = temp_file("functional.h5");
    write_keras_h5(path, m);
    {
        const H5Reader h5(path);
        const auto config = nlohmann::json::parse(h5.string("/", "model_config"));
        CHECK(config["class_name"] == "Functional");
        std::map<std::string, nlohmann::json> by_name;
        for (const auto & layer : config["config"]["layers"])
            by_name[layer["name"].get<std::string>()] = layer;
        CHECK(by_name.at("reshape_input")["config"]["target_shape"] == nlohmann::json::parse("[6, 6, 1]"));
        CHECK(by_name.at("join")["inbound_nodes"] ==
              nlohmann::json::parse(R"([[["bn", 0, 0, {}], ["proj", 0, 0, {}]]])"));
        CHECK(by_name.at("proj")["inbound_nodes"] == nlohmann::json::parse(R"([[["bn", 0, 0, {}]]])"));
        // The engine's leaky_relu slope is Keras' LeakyReLU layer's default, not its "leaky_relu" function's.
        CHECK(by_name.at("dense")["config"]["activation"] == "linear");
        CHECK(by_name.at("dense_leaky_relu")["class_name"] == "LeakyReLU");
        CHECK(config["config"]["output_layers"] == nlohmann::json::parse(R"([["dense_leaky_relu", 0, 0]])"));
        CHECK(
            h5.strings("/model_weights/bn", "weight_names") ==
            std::vector<std::string>{"bn/gamma:0", "bn/beta:0", "bn/moving_mean:0", "bn/moving_variance:0"});
        CHECK(h5.dims("/model_weights/dw/dw/depthwise_kernel:0") == std::vector<int64_t>{3, 3, 4, 2});
        CHECK(h5.floats("/model_weights/dw/dw/depthwise_kernel:0") == values(m.params.at("dw/kernel")));
        CHECK(h5.dims("/model_weights/stem/stem/kernel:0") == std::vector<int64_t>{3, 3, 1, 4});
    }
    std::filesystem::remove(path);
}

TEST_CASE("keras export: the engine's tanh-form gelu is spelled out in Keras layers") {
    const TrainedModel m = make_model("    - dense: {units: 2, activation: gelu}", {3}, "[3]");
    const std::string path = temp_file("gelu.h5");
    write_keras_h5(path, m);
    {
        const H5Reader h5(path);
        const auto config = nlohmann::json::parse(h5.string("/", "model_config"));
        CHECK(config["class_name"] == "Functional");
        std::vector<std::string> classes;
        for (const auto & layer : config["config"]["layers"]) classes.push_back(layer["class_name"]);
        CHECK(classes == std::vector<std::string>{"InputLayer", "Dense", "Multiply", "Rescaling", "Add",
                                                  "Rescaling", "Activation", "Rescaling", "Multiply"});
        CHECK(config["config"]["layers"].back()["name"] == "dense_gelu");
    }
    std::filesystem::remove(path);
}

// Before: exit 74 "HDF5 failed to create attribute model_config (over 64 KiB?)" for about 170 dense layers.
TEST_CASE("keras export: a model_config over 64 KiB, and layer names split in chunks as Keras does") {
    std::string layers_yaml;
    const std::string long_name(56, 'x');
    constexpr int kDense = 130;  // each with gelu: 8 Keras layers, ~70-byte names, over 64512 bytes in all
    for (int i = 0; i < kDense; ++i)
        layers_yaml += fmt::format("    - dense: {{name: {}{}, units: 2, activation: gelu}}\n", long_name, i);
    const TrainedModel m = make_model(layers_yaml, {3}, "[3]");
    const std::string path = temp_file("big.h5");
    write_keras_h5(path, m);
    {
        const H5Reader h5(path);
        const std::string config_text = h5.string("/", "model_config");
        CHECK(config_text.size() > 65536);
        const auto config = nlohmann::json::parse(config_text);
        std::vector<std::string> config_names;
        for (const auto & layer : config["config"]["layers"]) config_names.push_back(layer["name"]);
        CHECK(config_names.size() == 1 + 8 * kDense);
        CHECK_FALSE(h5.has("/model_weights", "layer_names"));
        std::vector<std::string> names;
        int chunks = 0;
        for (; h5.has("/model_weights", fmt::format("layer_names{}", chunks)); ++chunks) {
            const std::vector<std::string> part =
                h5.strings("/model_weights", fmt::format("layer_names{}", chunks));
            names.insert(names.end(), part.begin(), part.end());
        }
        CHECK(chunks == 2);
        CHECK(names == config_names);
        const std::string last = fmt::format("{}{}", long_name, kDense - 1);
        CHECK(h5.strings("/model_weights/" + last, "weight_names") ==
              std::vector<std::string>{last + "/kernel:0", last + "/bias:0"});
    }
    std::filesystem::remove(path);
}

}  // namespace
