// depthwise_conv2d: each input channel convolved with its own depth_multiplier filters, as Keras'
// DepthwiseConv2D (a conv2d with as many groups as channels).
#include "model/keras_layer.h"
#include "model/layers/convolution.h"

namespace dl {
namespace {

void read(LayerReader & r) {
    r.integer("depth_multiplier", 1, in_range(1, kMaxExtent));
    read_convolution_window(r);
}

void build(LayerBuild & b) {
    const int64_t channels = convolution_channels(b);
    const int64_t multiplier = b.layer.integer("depth_multiplier");
    const std::vector<int64_t> & k = b.layer.integers("kernel_size");
    const int64_t field = k[0] * k[1];  // Keras' fans, per channel
    build_convolution(b, channels, channels, channels * multiplier, field * channels, field * multiplier);
}

void keras(KerasLayerWriter & k) {
    const LayerSpec & l = k.layer();
    // The engine keeps a grouped convolution's kernel [kh, kw, 1, channels * multiplier], output channel
    // c * multiplier + m from input channel c: Keras' [kh, kw, channels, multiplier] in the same order.
    const int64_t multiplier = l.integer("depth_multiplier");
    KerasWeight kernel = k.weight("depthwise_kernel", "kernel");
    const std::vector<int64_t> d = kernel.dims;
    kernel.dims = {d[0], d[1], d[3] / multiplier, multiplier};
    k.add_weighted("DepthwiseConv2D",
                   {{"kernel_size", KerasLayerWriter::pair(l.integers("kernel_size"))},
                    {"strides", KerasLayerWriter::pair(l.integers("strides"))},
                    {"padding", l.text("padding")},
                    {"depth_multiplier", multiplier},
                    {"data_format", "channels_last"},
                    {"dilation_rate", KerasLayerWriter::pair(l.integers("dilation_rate"))}},
                   {std::move(kernel)});
}

DL_REGISTER_LAYER({.type = "depthwise_conv2d",
                   .read = read,
                   .build = build,
                   .keras = keras,
                   .test = {.input = {6, 6, 2}, .options = "{kernel_size: 3, depth_multiplier: 2}"}});

}  // namespace
}  // namespace dl
