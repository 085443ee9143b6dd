// global_avg_pool2d: [batch, height, width, channels] -> [batch, channels], as Keras'
// GlobalAveragePooling2D.
#include "model/keras_layer.h"
#include "model/layer_build.h"

namespace dl {
namespace {

void build(LayerBuild & b) {
    b.image_input();
    b.out = b.g.op("global_avg_pool2d", {b.in()});
}

void keras(KerasLayerWriter & k) {
    k.add("GlobalAveragePooling2D", {{"data_format", "channels_last"}, {"keepdims", false}});
}

DL_REGISTER_LAYER({.type = "global_avg_pool2d",
                   .aliases = {"global_average_pooling2d"},
                   .build = build,
                   .keras = keras,
                   .test = {.input = {4, 4, 3}}});

}  // namespace
}  // namespace dl
