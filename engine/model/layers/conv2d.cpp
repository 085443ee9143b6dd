// conv2d: a (grouped, strided, dilated) 2-D convolution over [batch, height, width, channels], as Keras'
// Conv2D.
#include "model/keras_layer.h"
#include "model/layers/convolution.h"

namespace dl {
namespace {

void read(LayerReader & r) {
    r.require("filters");
    r.integer("filters", 1, in_range(1, kMaxExtent));
    r.integer("groups", 1, in_range(1, kMaxExtent));
    read_convolution_window(r);
}

void build(LayerBuild & b) {
    const int64_t channels = convolution_channels(b);
    const int64_t groups = b.layer.integer("groups"), filters = b.layer.integer("filters");
    const std::vector<int64_t> & k = b.layer.integers("kernel_size");
    // Keras' fans: receptive field times input channels (per group) and times output channels.
    const int64_t field = k[0] * k[1];
    build_convolution(b, channels, groups, filters, field * (channels / groups), field * filters);
}

void keras(KerasLayerWriter & k) {
    const LayerSpec & l = k.layer();
    k.add_weighted("Conv2D",
                   {{"filters", l.integer("filters")},
                    {"kernel_size", KerasLayerWriter::pair(l.integers("kernel_size"))},
                    {"strides", KerasLayerWriter::pair(l.integers("strides"))},
                    {"padding", l.text("padding")},
                    {"data_format", "channels_last"},
                    {"dilation_rate", KerasLayerWriter::pair(l.integers("dilation_rate"))},
                    {"groups", l.integer("groups")}},
                   {k.weight("kernel")});
}

DL_REGISTER_LAYER({.type = "conv2d",
                   .aliases = {"conv_2d"},
                   .read = read,
                   .build = build,
                   .keras = keras,
                   .test = {.input = {6, 6, 2}, .options = "{filters: 4, kernel_size: 3, groups: 2}"}});

}  // namespace
}  // namespace dl
