// avg_pool2d: the mean of each window, as Keras' AveragePooling2D.
#include "model/layers/pooling.h"

namespace dl {
namespace {

void build(LayerBuild & b) { build_pooling(b, "avg_pool2d"); }
void keras(KerasLayerWriter & k) { keras_pooling(k, "AveragePooling2D"); }

DL_REGISTER_LAYER({.type = "avg_pool2d",
                   .aliases = {"average_pooling2d"},
                   .read = read_pooling,
                   .build = build,
                   .keras = keras,
                   .test = {.input = {6, 6, 2}, .options = "{pool_size: [2, 3]}"}});

}  // namespace
}  // namespace dl
