// What the window poolings (max_pool2d, avg_pool2d) share: their options, graph and Keras config.
#pragma once

#include "model/keras_layer.h"
#include "model/layer_build.h"

namespace dl {

// pool_size, strides (Keras: defaulting to pool_size) and padding.
void read_pooling(LayerReader & r);
void build_pooling(LayerBuild & b, const char * op);
void keras_pooling(KerasLayerWriter & k, const char * class_name);

}  // namespace dl
