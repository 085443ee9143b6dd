// zero_padding2d: rows and columns of zeros around an image, as Keras' ZeroPadding2D.
#include "model/keras_layer.h"
#include "model/layer_build.h"

namespace dl {
namespace {

void read(LayerReader & r) { r.edges("padding", 1); }

void build(LayerBuild & b) {
    b.image_input();
    const Shape s = b.in().shape();
    const std::vector<std::vector<int64_t>> & z = b.layer.pairs("padding");  // [[top, bottom], [left, right]]
    // Checked here: the padded shape is computed (and could wrap around) before any later check.
    b.check_output(Shape{s[0], s[1] + z[0][0] + z[0][1], s[2] + z[1][0] + z[1][1], s[3]});
    b.out = b.g.op("pad", {b.in()},
                   {{"before", std::vector<int64_t>{0, z[0][0], z[1][0], 0}},
                    {"after", std::vector<int64_t>{0, z[0][1], z[1][1], 0}}});
}

void keras(KerasLayerWriter & k) {
    k.add("ZeroPadding2D", {{"padding", k.layer().pairs("padding")}, {"data_format", "channels_last"}});
}

DL_REGISTER_LAYER({.type = "zero_padding2d",
                   .read = read,
                   .build = build,
                   .keras = keras,
                   .test = {.input = {4, 4, 1}, .options = "{padding: [[1, 0], [2, 3]]}"}});

}  // namespace
}  // namespace dl
