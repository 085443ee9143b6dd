// layer_norm: normalisation over the last axis of each sample, as Keras' LayerNormalization.
#include "model/layers/normalization.h"

namespace dl {
namespace {

void build(LayerBuild & b) {
    auto [gamma, beta] = build_gamma_beta(b);
    b.out = b.g.op("layer_norm", {b.in(), gamma, beta}, {{"epsilon", b.layer.number("epsilon")}});
}

void keras(KerasLayerWriter & k) {
    const LayerSpec & l = k.layer();
    k.add("LayerNormalization",
          {{"axis", -1},
           {"epsilon", l.number("epsilon")},
           {"center", l.flag("center")},
           {"scale", l.flag("scale")}},
          keras_gamma_beta(k));
}

DL_REGISTER_LAYER({.type = "layer_norm",
                   .aliases = {"layer_normalization"},
                   .read = read_epsilon_center_scale,
                   .build = build,
                   .keras = keras,
                   .test = {.options = "{epsilon: 0.01, scale: false}"}});

}  // namespace
}  // namespace dl
