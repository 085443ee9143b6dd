// reshape: each sample to target_shape (-1: whatever is left), as Keras' Reshape.
#include <algorithm>

#include "model/keras_layer.h"
#include "model/layer_build.h"

namespace dl {
namespace {

void read(LayerReader & r) {
    r.require("target_shape");
    r.integers("target_shape", [](double v) {
        return v == -1 || (v >= 1 && v <= static_cast<double>(kMaxExtent))
                   ? std::string()
                   : fmt::format("must be -1 (inferred) or between 1 and {}", kMaxExtent);
    });
}

void build(LayerBuild & b) {
    const std::vector<int64_t> & target = b.layer.integers("target_shape");
    // The op multiplies the extents (up to 8 of 2^24 each): checked here, where it cannot wrap around.
    std::vector<int64_t> extents = target;
    std::replace(extents.begin(), extents.end(), int64_t{-1}, int64_t{1});  // -1: inferred
    if (values_of(extents) > kMaxTensorValues)
        b.fail(fmt::format("target_shape {} holds more than {} values", to_string(Shape(target)),
                           kMaxTensorValues));
    std::vector<int64_t> shape = {b.batch};
    shape.insert(shape.end(), target.begin(), target.end());
    b.out = b.g.op("reshape", {b.in()}, {{"shape", shape}});
}

void keras(KerasLayerWriter & k) { k.add("Reshape", {{"target_shape", k.layer().integers("target_shape")}}); }

DL_REGISTER_LAYER({.type = "reshape",
                   .read = read,
                   .build = build,
                   .keras = keras,
                   .test = {.input = {6}, .options = "{target_shape: [2, -1]}"}});

}  // namespace
}  // namespace dl
