// flatten: [batch, ...] -> [batch, values], as Keras' Flatten.
#include "model/keras_layer.h"
#include "model/layer_build.h"

namespace dl {
namespace {

void build(LayerBuild & b) {
    b.out = b.g.op("reshape", {b.in()}, {{"shape", std::vector<int64_t>{b.batch, -1}}});
}

void keras(KerasLayerWriter & k) { k.add("Flatten", {{"data_format", "channels_last"}}); }

DL_REGISTER_LAYER({.type = "flatten", .build = build, .keras = keras, .test = {.input = {2, 3}}});

}  // namespace
}  // namespace dl
