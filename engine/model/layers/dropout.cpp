// dropout: while training, zeroes a `rate` of the values and scales the rest by 1 / (1 - rate); the identity
// otherwise, as Keras' Dropout.
#include "core/rng.h"
#include "model/keras_layer.h"
#include "model/layer_build.h"

namespace dl {
namespace {

void read(LayerReader & r) {
    r.require("rate");
    r.number("rate", 0.0, in_unit_interval_open_right());
}

void build(LayerBuild & b) {
    const double rate = b.layer.number("rate");
    b.out = b.training() && rate > 0
                ? b.g.op("dropout", {b.in()},
                         {{"rate", rate}, {"key", static_cast<int64_t>(Rng::stream(b.layer.name) >> 1)}})
                : b.in();
}

void keras(KerasLayerWriter & k) { k.add("Dropout", {{"rate", k.layer().number("rate")}}); }

DL_REGISTER_LAYER(
    {.type = "dropout", .read = read, .build = build, .keras = keras, .test = {.options = "{rate: 0.25}"}});

}  // namespace
}  // namespace dl
