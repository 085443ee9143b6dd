// cropping2d: rows and columns removed at an image's edges, as Keras' Cropping2D (to match a skip
// connection's size, or to drop a border).
#include "model/keras_layer.h"
#include "model/layer_build.h"

namespace dl {
namespace {

void read(LayerReader & r) {
    r.require("cropping");
    r.edges("cropping", 0);
}

void build(LayerBuild & b) {
    b.image_input();
    const Shape s = b.in().shape();
    const std::vector<std::vector<int64_t>> & c =
        b.layer.pairs("cropping");  // [[top, bottom], [left, right]]
    const int64_t height = s[1] - c[0][0] - c[0][1], width = s[2] - c[1][0] - c[1][1];
    if (height < 1 || width < 1)
        b.fail(fmt::format("cropping [[{}, {}], [{}, {}]] leaves nothing of its input {}", c[0][0], c[0][1],
                           c[1][0], c[1][1], shape_text(s)));
    b.out = b.g.op("slice", {b.in()},
                   {{"begin", std::vector<int64_t>{0, c[0][0], c[1][0], 0}},
                    {"size", std::vector<int64_t>{-1, height, width, -1}}});
}

void keras(KerasLayerWriter & k) {
    k.add("Cropping2D", {{"cropping", k.layer().pairs("cropping")}, {"data_format", "channels_last"}});
}

DL_REGISTER_LAYER({.type = "cropping2d",
                   .read = read,
                   .build = build,
                   .keras = keras,
                   .test = {.input = {6, 5, 2}, .options = "{cropping: [[1, 2], [0, 1]]}"}});

}  // namespace
}  // namespace dl
