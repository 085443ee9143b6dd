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

std::string error_of(const std::string & text, std::vector<std::string> sets = {}, dl::ExitCode * code = nullptr) {
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
    const dl::Spec s = parse(kSpec, {"train.epochs=12", "model.layers.0.dense.units=64", "train.optimizer={type: adam}",
                                     "data.validation_split=0.25"});
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
