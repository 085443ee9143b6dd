// Spec parsing: defaults, aliases, --set overrides, the resolved spec, and errors gathered with locations.
#include <doctest/doctest.h>

#include "core/error.h"
#include "spec/spec.h"

namespace {

const char * kSpec = R"(name: demo
seed: 4
data:
  path: datasets/iris.csv
  target: species
model:
  input: [4]
  layers:
    - dense: {units: 8, activation: relu}
    - dense: {units: 3, activation: softmax}
train:
  loss: sparse_categorical_crossentropy
  metrics: [acc]
  optimizer: {type: sgd, learning_rate: 0.1, momentum: 0.9}
)";

dl::Spec parse(const std::string & text, std::vector<std::string> sets = {}) {
    return dl::parse_spec(text, "demo.yaml", DLCTL_SOURCE_DIR, sets);
}

std::string error_of(const std::string & text, std::vector<std::string> sets = {},
                     dl::ExitCode * code = nullptr) {
    try {
        parse(text, sets);
    } catch (const dl::Error & e) {
        if (code) *code = e.code();
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("defaults, Keras names and aliases") {
    const dl::Spec s = parse(kSpec);
    CHECK(s.name == "demo");
    CHECK(s.seed == 4);
    REQUIRE(s.model.layers.size() == 2);
    CHECK(s.model.layers[0].name == "dense");
    CHECK(s.model.layers[1].name == "dense_1");
    CHECK(s.model.layers[0].kernel_initializer == "glorot_uniform");
    CHECK(s.model.layers[0].loc.line == 9);
    CHECK(s.train.metrics == std::vector<std::string>{"accuracy"});
    CHECK(s.train.optimizer.type == "sgd");
    CHECK(s.train.optimizer.lr == doctest::Approx(0.1));
    CHECK(s.train.optimizer.momentum == doctest::Approx(0.9));
    CHECK(s.train.batch_size == 32);
    CHECK(s.data.path.find("datasets/iris.csv") != std::string::npos);
}

TEST_CASE("--set overrides any field, with YAML values and list indices") {
    const dl::Spec s = parse(kSpec, {"train.epochs=12", "model.layers.0.dense.units=64",
                                     "train.optimizer={type: adam}", "data.validation_split=0.25"});
    CHECK(s.train.epochs == 12);
    CHECK(s.model.layers[0].units == 64);
    CHECK(s.train.optimizer.type == "adam");
    CHECK(s.train.optimizer.lr == doctest::Approx(0.001));
    CHECK(s.data.validation_split == doctest::Approx(0.25));
    dl::ExitCode code{};
    const std::string e = error_of(kSpec, {"train.optimizer.lr=-1"}, &code);
    CHECK(code == dl::ExitCode::bad_input);
    CHECK(e.find("--set train.optimizer.lr=-1") != std::string::npos);
    CHECK_THROWS_AS(parse(kSpec, {"no-equals-sign"}), dl::Error);
    CHECK_THROWS_AS(parse(kSpec, {"model.layers.9.dense.units=3"}), dl::Error);
}

TEST_CASE("the resolved spec is a fixed point: render(parse(render(s))) == render(s)") {
    const dl::Spec s = parse(kSpec, {"train.schedule={type: cosine, warmup_epochs: 2}",
                                     "train.early_stopping={patience: 3, monitor: loss}"});
    const std::string once = dl::render_spec(s);
    const std::string twice = dl::render_spec(dl::parse_spec(once, "resolved.yaml", "/"));
    CHECK(once == twice);
    CHECK(once.find("warmup_epochs: 2") != std::string::npos);
}

TEST_CASE("all problems are reported at once, each with file:line:col and did-you-mean") {
    const std::string text = R"(name: demo
data: {path: datasets/iris.csv, target: species}
model:
  input: [4]
  layers:
    - dens: {units: 8}
train:
  epoch: 3
  optimizer: adma
)";
    dl::ExitCode code{};
    const std::string e = error_of(text, {}, &code);
    CHECK(code == dl::ExitCode::bad_input);
    CHECK(e.find("demo.yaml:6:7: unknown layer 'dens'") != std::string::npos);
    CHECK(e.find("did you mean 'dense'?") != std::string::npos);
    CHECK(e.find("demo.yaml:8:3: unknown key 'epoch' in train") != std::string::npos);
    CHECK(e.find("did you mean 'epochs'?") != std::string::npos);
    CHECK(e.find("unknown optimizer 'adma'") != std::string::npos);
    CHECK(e.find("did you mean 'adam'?") != std::string::npos);
    CHECK(e.find("3 problems") != std::string::npos);
}

TEST_CASE("closest_match: typos, swapped letters, case; nothing for unrelated words") {
    CHECK(dl::closest_match("trian", {"train", "data", "model"}) == "train");
    CHECK(dl::closest_match("medv", {"MEDV", "CRIM"}) == "MEDV");
    CHECK(dl::closest_match("optimiser", {"optimizer", "epochs"}) == "optimizer");
    CHECK(dl::closest_match("zzz", {"train", "data"}).empty());
}

TEST_CASE("image layers: Keras defaults and names, one number or [height, width], augmentation") {
    const dl::Spec s = parse(R"(name: img
data:
  path: datasets/iris.csv
  target: species
  augment: {flip: horizontal, crop_padding: 2, translate: {height: 0.1, width: 0.2}}
model:
  input: [4]
  layers:
    - reshape: {target_shape: [2, 2, 1]}
    - conv2d: {filters: 8, kernel_size: 3, padding: same, strides: [1, 2]}
    - batch_normalization: {}
    - depthwise_conv2d: {kernel_size: [1, 2], depth_multiplier: 2, dilation_rate: 1}
    - max_pooling2d: {}
    - average_pooling2d: {pool_size: 1, strides: 1}
    - zero_padding2d: {padding: [[1, 0], [2, 3]]}
    - global_average_pooling2d: {}
    - layer_normalization: {epsilon: 0.01}
    - dense: {units: 3, activation: softmax}
train: {loss: sparse_categorical_crossentropy}
)");
    const auto & L = s.model.layers;
    REQUIRE(L.size() == 10);
    CHECK(L[1].type == "conv2d");
    CHECK(L[1].kernel_size == std::vector<int64_t>{3, 3});
    CHECK(L[1].strides == std::vector<int64_t>{1, 2});
    CHECK(L[1].padding == "same");
    CHECK(L[1].groups == 1);
    CHECK(L[2].type == "batch_norm");
    CHECK(L[2].name == "batch_norm");
    CHECK(L[2].momentum == 0.99);
    CHECK(L[2].epsilon == 1e-3);
    CHECK(L[3].depth_multiplier == 2);
    CHECK(L[3].dilation_rate == std::vector<int64_t>{1, 1});
    CHECK(L[4].type == "max_pool2d");
    CHECK(L[4].pool_size == std::vector<int64_t>{2, 2});
    CHECK(L[4].strides == std::vector<int64_t>{2, 2});  // Keras: strides default to the pool size
    CHECK(L[5].type == "avg_pool2d");
    CHECK(L[5].strides == std::vector<int64_t>{1, 1});
    CHECK(L[6].zero_padding == std::vector<int64_t>{1, 0, 2, 3});
    CHECK(L[7].type == "global_avg_pool2d");
    CHECK(L[8].epsilon == 0.01);
    CHECK(L[9].type == "dense");
    CHECK(s.data.augment.flip == "horizontal");
    CHECK(s.data.augment.crop_padding == 2);
    CHECK(s.data.augment.translate_width == 0.2);
    // The resolved spec keeps all of it.
    const std::string once = dl::render_spec(s);
    CHECK(dl::render_spec(dl::parse_spec(once, "resolved.yaml", "/")) == once);
    CHECK(once.find("zero_padding2d") != std::string::npos);
    CHECK(once.find("augment") != std::string::npos);
}

TEST_CASE("image layers: bad sizes and modes are reported with their place") {
    const std::string base = R"(name: img
data: {path: datasets/iris.csv, target: species}
model:
  input: [4]
  layers:
    - reshape: {target_shape: [2, 2, 1]}
    - LAYER
    - flatten: {}
    - dense: {units: 3, activation: softmax}
train: {loss: sparse_categorical_crossentropy}
)";
    auto with = [&](const std::string & layer) {
        std::string t = base;
        t.replace(t.find("LAYER"), 5, layer);
        return error_of(t);
    };
    CHECK(
        with("conv2d: {filters: 2, kernel_size: [3, 3, 3]}").find("expected one number or [height, width]") !=
        std::string::npos);
    CHECK(with("conv2d: {kernel_size: 3}").find("filters") != std::string::npos);
    CHECK(with("conv2d: {filters: 2, kernel_size: 0}").find("at least 1") != std::string::npos);
    CHECK(with("conv2d: {filters: 2, kernel_size: 3, padding: valud}").find("did you mean 'valid'") !=
          std::string::npos);
    CHECK(with("conv2d: {filters: 2, kernel_size: 3, strides: 2, dilation_rate: 2}").find("cannot both") !=
          std::string::npos);
    CHECK(with("max_pool2d: {pool_size: [2, 2], stride: 1}").find("did you mean 'strides'") !=
          std::string::npos);
    CHECK(with("zero_padding2d: {padding: [1, 2, 3]}").find("[[top, bottom], [left, right]]") !=
          std::string::npos);
    CHECK(with("batch_norm: {momentum: 1.5}").find("momentum") != std::string::npos);
    CHECK(with("embeding: {input_dim: 3, output_dim: 2}").find("did you mean 'embedding'") !=
          std::string::npos);
}

TEST_CASE("device and train.precision: defaults, values, errors, and what the rendered spec keeps") {
    const dl::Spec s = parse(kSpec);
    CHECK(s.device.empty());
    CHECK(s.train.precision == "float32");
    CHECK(dl::render_spec(s).find("precision") == std::string::npos);  // old versions' specs hash as before
    const dl::Spec g = parse(kSpec, {"device=cuda:1", "train.precision=bf16"});
    CHECK(g.device == "cuda:1");
    CHECK(g.train.precision == "bf16");
    CHECK(dl::render_spec(g).find("precision: bf16") != std::string::npos);
    CHECK(dl::render_spec(g).find("cuda:1") == std::string::npos);  // where it runs is not part of the model
    dl::ExitCode code{};
    CHECK(error_of(kSpec, {"train.precision=fp16"}, &code).find("unknown precision 'fp16'") !=
          std::string::npos);
    CHECK(code == dl::ExitCode::bad_input);
    CHECK(error_of(kSpec, {"device=gpu"}, &code).find("device 'gpu' is not cpu, cuda, cuda:N or auto") !=
          std::string::npos);
}
