// activation: an activation alone (relu, softmax, ...), as Keras' Activation.
#include "model/keras_layer.h"
#include "model/layer_build.h"

namespace dl {
namespace {

void read(LayerReader & r) {
    r.require("activation");
    r.choice("activation", "linear", activation_names(), "activation");
}

void build(LayerBuild & b) { b.activate(b.in(), b.layer.text("activation")); }

void keras(KerasLayerWriter & k) { k.add_activation(k.layer().text("activation")); }

DL_REGISTER_LAYER({.type = "activation",
                   .read = read,
                   .build = build,
                   .keras = keras,
                   .test = {.options = "{activation: tanh}"}});

}  // namespace
}  // namespace dl
