// add: the sum of two or more inputs of one shape, as Keras' Add.
#include "model/keras_layer.h"
#include "model/layer_build.h"

namespace dl {
namespace {

void build(LayerBuild & b) {
    if (b.inputs.size() < 2) b.fail("needs at least two inputs (inputs: [a, b])");
    const std::vector<std::string> & names = b.layer.inputs;
    b.out = b.inputs[0];
    for (size_t i = 1; i < b.inputs.size(); ++i) {
        if (b.inputs[i].shape() != b.inputs[0].shape())
            b.fail(fmt::format("inputs '{}' {} and '{}' {} have different shapes", names[0],
                               shape_text(b.inputs[0].shape()), names[i], shape_text(b.inputs[i].shape())));
        b.out = b.out + b.inputs[i];
    }
}

void keras(KerasLayerWriter & k) { k.add("Add", KerasLayerWriter::Json::object()); }

DL_REGISTER_LAYER(
    {.type = "add",
     .build = build,
     .keras = keras,
     .min_inputs = 2,
     .test = {.options = "{inputs: [a, b]}",
              .before = "- dense: {name: a, units: 3}\n- dense: {name: b, units: 3, inputs: [input]}"}});

}  // namespace
}  // namespace dl
