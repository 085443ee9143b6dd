// max_pool2d: the largest value of each window, as Keras' MaxPooling2D.
#include "model/layers/pooling.h"

namespace dl {
namespace {

void build(LayerBuild & b) { build_pooling(b, "max_pool2d"); }
void keras(KerasLayerWriter & k) { keras_pooling(k, "MaxPooling2D"); }

DL_REGISTER_LAYER({.type = "max_pool2d",
                   .aliases = {"max_pooling2d"},
                   .read = read_pooling,
                   .build = build,
                   .keras = keras,
                   .test = {.input = {6, 6, 2}, .options = "{pool_size: 2, strides: 1, padding: same}"}});

}  // namespace
}  // namespace dl
