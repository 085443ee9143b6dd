// Spec parsing: defaults, aliases, --set overrides, the resolved spec, and errors gathered with locations.
#include <doctest/doctest.h>
#include <sys/resource.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/text.h"
#include "model/model.h"
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
    CHECK(s.model.layers[0].text("kernel_initializer") == "glorot_uniform");
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
    CHECK(s.model.layers[0].integer("units") == 64);
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
    CHECK(L[1].integers("kernel_size") == std::vector<int64_t>{3, 3});
    CHECK(L[1].integers("strides") == std::vector<int64_t>{1, 2});
    CHECK(L[1].text("padding") == "same");
    CHECK(L[1].integer("groups") == 1);
    CHECK(L[2].type == "batch_norm");
    CHECK(L[2].name == "batch_norm");
    CHECK(L[2].number("momentum") == 0.99);
    CHECK(L[2].number("epsilon") == 1e-3);
    CHECK(L[3].integer("depth_multiplier") == 2);
    CHECK(L[3].integers("dilation_rate") == std::vector<int64_t>{1, 1});
    CHECK(L[4].type == "max_pool2d");
    CHECK(L[4].integers("pool_size") == std::vector<int64_t>{2, 2});
    CHECK(L[4].integers("strides") == std::vector<int64_t>{2, 2});  // Keras: strides default to the pool size
    CHECK(L[5].type == "avg_pool2d");
    CHECK(L[5].integers("strides") == std::vector<int64_t>{1, 1});
    CHECK(L[6].pairs("padding") == std::vector<std::vector<int64_t>>{{1, 0}, {2, 3}});
    CHECK(L[7].type == "global_avg_pool2d");
    CHECK(L[8].number("epsilon") == 0.01);
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
    CHECK(with("conv2d: {filters: 2, kernel_size: 0}").find("must be between 1 and 65536") !=
          std::string::npos);
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

namespace {

// kSpec with its two layers replaced by `layers` (each line "    - ...\n").
std::string with_layers(const std::string & layers) {
    std::string t = kSpec;
    const size_t from = t.find("    - dense: {units: 8");
    const size_t to = t.find("train:");
    return t.replace(from, to - from, layers);
}

long max_rss_kb() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

}  // namespace

TEST_CASE(
    "integer fields: out of range, huge or not finite values are problems at their place, never a cast") {
    CHECK(error_of(with_layers("    - dense: {units: 2147483648}\n"))
              .find("demo.yaml:9:22: model.layers.0.dense.units must be between 1 and 16777216, got "
                    "2147483648") != std::string::npos);
    // Lists: 1e300 and .inf used to reach static_cast<int64_t> (undefined behaviour).
    for (const char * v : {"1e300", ".inf", ".nan", "-1e300"}) {
        const std::string e = error_of(kSpec, {fmt::format("model.input=[{}]", v)});
        CAPTURE(v);
        CHECK(e.find("model.input.0") != std::string::npos);
    }
    CHECK(error_of(kSpec, {"model.input=[1, 1, 1, 1, 1, 1, 1, 1, 1]"}).find("at most 8 numbers, got 9") !=
          std::string::npos);
    CHECK(error_of(kSpec, {"train.epochs=1e18"}).find("train.epochs must be between 1 and 1000000") !=
          std::string::npos);
    CHECK(error_of(kSpec, {"seed=1e300"}).find("seed must be between 0 and 1000000000000000") !=
          std::string::npos);
}

TEST_CASE("nesting deeper than 64 levels is refused before yaml-cpp recurses, in flow and block style") {
    dl::ExitCode code{};
    const std::string flow = std::string(kSpec) + "extra: " + std::string(100000, '[') + "\n";
    const std::string e = error_of(flow, {}, &code);
    CHECK(code == dl::ExitCode::bad_input);
    CHECK(e.find("demo.yaml:15:") == 0);
    CHECK(e.find("mappings and lists nest deeper than 64 levels") != std::string::npos);
    std::string block = std::string(kSpec) + "extra:\n";
    for (int i = 0; i < 100; ++i) block += std::string(static_cast<size_t>(i) + 1, ' ') + "- \n";
    CHECK(error_of(block).find("nest deeper than 64 levels") != std::string::npos);
    CHECK(error_of(kSpec, {"train.epochs=" + std::string(5000, '[')}, &code).find("nests deeper than 64") !=
          std::string::npos);
    CHECK(code == dl::ExitCode::usage);
    // 60 levels are fine as YAML (and then an unknown key).
    CHECK(error_of(std::string(kSpec) + "extra: " + std::string(60, '[') + std::string(60, ']') + "\n")
              .find("unknown key 'extra'") != std::string::npos);
}

TEST_CASE("a spec is UTF-8: an invalid byte is reported at its line and column") {
    const std::string e = error_of(std::string(kSpec) + "# caf\xe9\n");
    CHECK(e.find("demo.yaml:15:6: invalid UTF-8 (byte 0xe9)") != std::string::npos);
    CHECK(parse("\xEF\xBB\xBF" + std::string(kSpec)).name == "demo");  // a byte order mark is fine
    CHECK(error_of(kSpec, {"name=caf\xe9"}).find("not UTF-8") != std::string::npos);
}

TEST_CASE(
    "many layers: refused past 10,000 in well under a second; problems past 20 are counted, not shown") {
    std::string many;
    for (int i = 0; i < 100000; ++i) many += "    - dense: {units: 1}\n";
    auto t0 = std::chrono::steady_clock::now();
    CHECK(error_of(with_layers(many)).find("demo.yaml: the spec is 2400") !=
          std::string::npos);                                                // not parsed
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));  // was minutes
    std::string flat;
    for (int i = 0; i < 10001; ++i) flat += "    - flatten:\n";
    t0 = std::chrono::steady_clock::now();
    CHECK(error_of(with_layers(flat)).find("model.layers: 10001 layers; the limit is 10000") !=
          std::string::npos);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
    // 5,000 layers that take an input nobody made: 20 messages, each without a 5,000-name did-you-mean
    // search.
    std::string broken;
    for (int i = 0; i < 5000; ++i) broken += fmt::format("    - dense: {{units: 1, inputs: [nope{}]}}\n", i);
    t0 = std::chrono::steady_clock::now();
    const std::string e = error_of(with_layers(broken));
    CHECK(e.find("dlctl: 5000 problems in demo.yaml (the first 20 shown)") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
    // A model file keeps the resolved spec in one HDF5 attribute: 600 dense layers do not fit, 300 do.
    std::string l600, l300;
    for (int i = 0; i < 600; ++i) (i < 300 ? l300 : l600) += "    - dense: {units: 3, activation: softmax}\n";
    CHECK(error_of(with_layers(l300 + l600)).find("the resolved spec (dlctl render) takes") !=
          std::string::npos);
    CHECK(parse(with_layers(l300)).model.layers.size() == 300);
}

TEST_CASE("long names are refused without std::regex (which recursed once per character)") {
    const std::string long_name(1 << 19, 'a');  // within the 1 MiB of a spec
    CHECK(error_of(with_layers("    - dense: {units: 3, name: " + long_name + "}\n"))
              .find("at most 128 characters") != std::string::npos);
    CHECK(error_of(kSpec, {"device=cuda:" + std::string(1 << 20, '1')})
              .find("is not cpu, cuda, cuda:N or auto") != std::string::npos);
    CHECK(error_of(kSpec, {"name=" + long_name}).find("at most 64 characters") != std::string::npos);
    CHECK(parse(kSpec, {"device=cuda:12"}).device == "cuda:12");
}

TEST_CASE(
    "error messages: control characters and invalid UTF-8 are escaped, in the message and its source line") {
    CHECK(dl::printable("a\x1b[31mb\x07\tc\rd") == "a\\e[31mb\\x07\\tc\\rd");
    CHECK(dl::printable("caf\xe9 \xc3\xa9") == "caf\\xe9 \xc3\xa9");  // Latin-1 escaped, UTF-8 kept
    CHECK(dl::printable("x\xe2\x80\xaey") == "x\\u202ey");            // a bidi override
    CHECK(dl::printable("\xc2\x9b") == "\\u009b");                    // C1 CSI
    CHECK(dl::printable("one\ntwo", true) == "one\ntwo");
    CHECK(dl::printable("one\ntwo") == "one\\ntwo");
    CHECK(dl::invalid_utf8_at("ok \xc3\xa9") == std::string_view::npos);
    CHECK(dl::invalid_utf8_at("\xc0\xaf") == 0);        // overlong '/'
    CHECK(dl::invalid_utf8_at("ab\xed\xa0\x80") == 2);  // a surrogate
    CHECK(dl::invalid_utf8_at("abc\xe2\x82") == 3);     // cut short
    // format_at escapes the source line it quotes, and puts the caret under the escaped text.
    const std::string file = (std::filesystem::temp_directory_path() / "dlctl-test-escape.yaml").string();
    std::ofstream(file) << "a: 1\n- \"\x1b[2J\xe9\": {units: 3}\n";
    const std::string at = dl::format_at({.file = file, .line = 2, .col = 13}, "here");
    CHECK(at.find("\n    - \"\\e[2J\\xe9\": {units: 3}\n                    ^") != std::string::npos);
    std::filesystem::remove(file);
}

TEST_CASE("check_model computes shapes and sizes without allocating them") {
    dl::Spec s =
        parse(with_layers("    - dense: {units: 8000000}\n    - dense: {units: 3, activation: softmax}\n"));
    const dl::DataInfo info = dl::data_info_for(s, {4}, 1, 3);
    const long before = max_rss_kb();
    const dl::ModelSize size = dl::check_model(s, info);
    CHECK(size.parameters == 4 * 8000000 + 8000000 + 8000000 * 3 + 3);  // 256 MB as float32
    CHECK(max_rss_kb() - before < 64 * 1024);
    // Past the parameter limit: a located error, still nothing allocated.
    s = parse(
        with_layers("    - dense: {units: 16777216}\n    - dense: {units: 64}\n    - dense: {units: 3}\n"));
    try {
        dl::check_model(s, info);
        FAIL("no error");
    } catch (const dl::Error & e) {
        CHECK(e.code() == dl::ExitCode::bad_input);
        CHECK(std::string(e.what()).find(
                  "demo.yaml:10:7: layer 'dense_1' (dense): the model needs 4.6 GB of parameters") !=
              std::string::npos);
    }
    CHECK(max_rss_kb() - before < 64 * 1024);
}
