// Every registered layer (spec/layer_def.h), the way tests/grad checks every op: a minimal spec built from the
// layer's LayerTest is parsed, built for training, evaluation and prediction, rendered and read back (render is
// a fixed point), and exported to ONNX and, where the layer has a Keras form, to Keras HDF5. A new layer is
// covered by registering it.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "export/export.h"
#include "model/trained_model.h"
#include "spec/layer_def.h"

namespace {
using namespace dl;

std::string spec_text(const LayerDef & def, const std::string & type) {
    std::string layers;
    for (std::string before = def.test.before; !before.empty();) {
        const size_t end = before.find('\n');
        layers += "    " + before.substr(0, end) + "\n";
        before = end == std::string::npos ? "" : before.substr(end + 1);
    }
    layers += fmt::format("    - {}: {}\n", type, def.test.options);
    layers += "    - flatten: {name: test_flatten}\n    - dense: {name: test_output, units: 1}\n";
    return fmt::format(R"(name: layer-test
data: {{path: datasets/housing.csv, target: MEDV}}
model:
  input: [{}]
  layers:
{}train: {{loss: mse}}
)",
                       fmt::join(def.test.input, ", "), layers);
}

Spec parse(const std::string & text) { return parse_spec(text, "layer-test.yaml", DLCTL_SOURCE_DIR); }

const LayerSpec & tested_layer(const Spec & s, const LayerDef & def) {
    for (const LayerSpec & l : s.model.layers)
        if (l.type == def.type) return l;
    FAIL("the spec has no layer of type " << def.type);
    return s.model.layers.front();
}

}  // namespace

TEST_CASE("layers: every registered layer parses, builds, renders as a fixed point and exports") {
    const std::vector<const LayerDef *> layers = all_layers();
    REQUIRE(layers.size() >= 16);
    for (const LayerDef * def : layers) {
        CAPTURE(def->type);
        // One file per layer, named as the layer: engine/model/layers/<type>.cpp.
        CHECK(std::filesystem::path(def->file).filename().string() == std::string(def->type) + ".cpp");
        CHECK(std::filesystem::path(def->file).parent_path().filename().string() == "layers");
        REQUIRE((def->build != nullptr));

        const std::string text = spec_text(*def, def->type);
        CAPTURE(text);
        const Spec spec = parse(text);
        const LayerSpec & layer = tested_layer(spec, *def);

        // Render is a fixed point, and reading the rendered spec gives the same options.
        const std::string rendered = render_spec(spec);
        const Spec again = parse(rendered);
        CHECK(render_spec(again) == rendered);
        CHECK(tested_layer(again, *def).options == layer.options);
        for (const std::string & alias : def->aliases) {
            CAPTURE(alias);
            CHECK(render_spec(parse(spec_text(*def, alias))) == rendered);
        }

        // The graphs of each mode build; check_model sizes them without allocating.
        const DataInfo info = data_info_for(spec, def->test.input, 1, 0);
        CHECK(check_model(spec, info).parameters > 0);
        TrainedModel model;
        model.spec = spec;
        model.run.name = "layer-test";
        model.info = info;
        for (GraphMode mode : {GraphMode::train, GraphMode::evaluate, GraphMode::predict}) {
            const Graph g = build_model_graph(spec, info, 2, mode, model.params);
            CHECK(g.outputs().count("prediction") == 1);
        }
        model.normalizer.method = "none";
        model.normalizer.offset.assign(static_cast<size_t>(info.features), 0.0f);
        model.normalizer.scale.assign(static_cast<size_t>(info.features), 1.0f);

        // ONNX translates the graph op by op: every layer's prediction graph has a form there.
        CHECK(onnx_model_bytes(model).size() > 100);
        const std::string keras_path = (std::filesystem::temp_directory_path() /
                                        fmt::format("dlctl-layers-{}-{}.h5", ::getpid(), def->type))
                                           .string();
        if (def->keras) {
            write_keras_h5(keras_path, model);
            CHECK(std::filesystem::file_size(keras_path) > 1000);
            std::filesystem::remove(keras_path);
        } else {
            CHECK_THROWS_AS(write_keras_h5(keras_path, model), Error);
        }
    }
}

TEST_CASE("layers: an unknown layer is refused with did-you-mean over the registered types and aliases") {
    const LayerDef & dense = *find_layer("dense");
    try {
        parse(spec_text(dense, "dense")
                  .replace(spec_text(dense, "dense").find("- dense: {units"), 7, "- dence"));
        FAIL("an unknown layer was accepted");
    } catch (const Error & e) {
        CHECK(std::string(e.what()).find("unknown layer 'dence'") != std::string::npos);
        CHECK(std::string(e.what()).find("did you mean 'dense'?") != std::string::npos);
    }
    for (const LayerDef * def : all_layers())
        for (const std::string & alias : def->aliases) CHECK(find_layer(alias) == def);
}

TEST_CASE("layers: the activations are the ops flagged as such, and linear") {
    const std::vector<std::string> & names = activation_names();
    CHECK(names.front() == "linear");
    for (const char * act :
         {"relu", "sigmoid", "tanh", "softmax", "log_softmax", "leaky_relu", "elu", "gelu"})
        CHECK(std::find(names.begin(), names.end(), act) != names.end());
    for (size_t i = 1; i < names.size(); ++i) {
        const OpDef * op = find_op(names[i]);
        REQUIRE(op != nullptr);
        CHECK(op->activation);
    }
}
