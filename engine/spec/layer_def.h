// A layer lives in one file: engine/model/layers/<type>.cpp holds how its options are read and checked, the
// graph it builds, and its Keras layer, and registers itself under its type:
//
//   // engine/model/layers/dropout.cpp
//   void read(LayerReader & r) { r.require("rate"); r.number("rate", 0.0, in_unit_interval_open_right()); }
//   void build(LayerBuild & b) { b.out = b.training() ? b.g.op("dropout", {b.in()}, ...) : b.in(); }
//   void keras(KerasLayerWriter & k) { k.add("Dropout", {{"rate", k.layer().number("rate")}}); }
//   DL_REGISTER_LAYER({.type = "dropout", .read = read, .build = build, .keras = keras,
//                      .test = {.options = "{rate: 0.5}"}});
//
// Render needs nothing of the layer: the options it read are printed in the order it read them. The
// interface and its registry live with the spec, which reads layers through them; build (model/layer_build.h)
// and keras (model/keras_layer.h) take contexts defined above the spec, declared here only by name, as
// OpDef::onnx does.
#pragma once

#include <string>
#include <vector>

#include "graph/op.h"  // DL_CONCAT
#include "spec/spec.h"
#include "spec/yaml_reader.h"

namespace dl {

struct LayerBuild;       // model/layer_build.h
class KerasLayerWriter;  // model/keras_layer.h

// A layer's options as its read function sees them: each reads one key with MapReader's checks (and its
// file:line:col errors and did-you-mean) and stores the value, default filled in, as the layer's option.
struct LayerReader {
    Problems & problems;
    MapReader & keys;
    LayerSpec & layer;
    const std::string & path;  // model.layers.<i>.<type>, for messages

    void require(const std::string & key) { keys.require(key); }
    int64_t integer(const std::string & key, int64_t fallback, const NumberCheck & check = {});
    double number(const std::string & key, double fallback, const NumberCheck & check = {});
    bool flag(const std::string & key, bool fallback);
    std::string choice(const std::string & key, const std::string & fallback,
                       const std::vector<std::string> & choices, const std::string & what);
    std::vector<int64_t> integers(const std::string & key, const NumberCheck & check = {});
    // A size per spatial axis as Keras takes it: one number for both (3) or [height, width].
    std::vector<int64_t> size_pair(const std::string & key, std::vector<int64_t> fallback);
    // Rows and columns at an image's edges as Keras takes them: n (every side), [rows, cols], or
    // [[top, bottom], [left, right]]; kept as the last form.
    std::vector<std::vector<int64_t>> edges(const std::string & key, int64_t fallback_each);
    // valid | same
    std::string padding();
    // What dense and the convolutions share: activation, bias, initializers and regularization (Keras'
    // defaults).
    void weight_options();
};

// What the registry-driven test (tests/unit/test_layers.cpp) builds to exercise a layer: a model whose input
// has shape `input`, with the layers `before` (YAML list items) ahead of this one and its `options`.
struct LayerTest {
    std::vector<int64_t> input = {4};
    const char * options = "{}";
    const char * before = "";
};

struct LayerDef {
    const char * type = nullptr;
    std::vector<std::string> aliases;       // Keras' names for it (its class name in snake case)
    void (*read)(LayerReader &) = nullptr;  // none: the layer has no options
    void (*build)(LayerBuild &) = nullptr;
    // The layer as Keras layers (`dlctl export --format keras`); none: exporting it to Keras fails naming the
    // layer. ONNX needs nothing here: it translates the graph, op by op (OpDef::onnx).
    void (*keras)(KerasLayerWriter &) = nullptr;
    size_t min_inputs = 1;  // when `inputs` is given (add, concat: 2)
    LayerTest test;
    const char * file = "";  // filled in by DL_REGISTER_LAYER
};

bool register_layer(LayerDef def, const char * file);
// By canonical type or alias.
const LayerDef * find_layer(const std::string & type);
// Sorted by type.
std::vector<const LayerDef *> all_layers();
std::vector<std::string> layer_types();
// The activations a layer may name: linear (none) and every op flagged as an activation (OpDef::activation).
const std::vector<std::string> & activation_names();
// Initializers of weights (model/layer_build.cpp implements them).
const std::vector<std::string> & initializer_names();

}  // namespace dl

#define DL_REGISTER_LAYER(...)                                    \
    static const bool DL_CONCAT(dl_registered_layer_, __LINE__) = \
        ::dl::register_layer(::dl::LayerDef __VA_ARGS__, __FILE__)
