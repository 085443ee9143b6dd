// What batch_norm and layer_norm share: epsilon, center (beta) and scale (gamma), as Keras.
#pragma once

#include "model/keras_layer.h"
#include "model/layer_build.h"

namespace dl {

void read_epsilon_center_scale(LayerReader & r);
// gamma and beta over the last axis: parameters, or constants 1 and 0 when scale or center is off.
std::pair<Value, Value> build_gamma_beta(LayerBuild & b);
// The trained gamma and beta that Keras keeps (scale, center), in its order.
std::vector<KerasWeight> keras_gamma_beta(const KerasLayerWriter & k);

}  // namespace dl
