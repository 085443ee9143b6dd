// dense: y = activation(x W + b) on [batch, features] inputs, as Keras' Dense.
#include "model/keras_layer.h"
#include "model/layer_build.h"

namespace dl {
namespace {

void read(LayerReader & r) {
    r.require("units");
    r.integer("units", 1, in_range(1, kMaxExtent));
    r.weight_options();
}

void build(LayerBuild & b) {
    const Shape s = b.in().shape();
    if (s.rank() != 2)
        b.fail(fmt::format("expects [batch, features] input, got {}", shape_text(s)),
               "add a flatten layer before it");
    const int64_t units = b.layer.integer("units");
    Value w = b.param("kernel", Shape{s[1], units}, b.layer.text("kernel_initializer"), s[1], units);
    b.weighted_output(b.g.op("matmul", {b.in(), w}), w, units, s[1], units);
}

void keras(KerasLayerWriter & k) {
    k.add_weighted("Dense", {{"units", k.layer().integer("units")}}, {k.weight("kernel")});
}

DL_REGISTER_LAYER(
    {.type = "dense", .read = read, .build = build, .keras = keras, .test = {.options = "{units: 3}"}});

}  // namespace
}  // namespace dl
