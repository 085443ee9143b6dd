#include "model/layers/convolution.h"

namespace dl {

void read_convolution_window(LayerReader & r) {
    r.require("kernel_size");
    r.size_pair("kernel_size", {1, 1});
    const std::vector<int64_t> strides = r.size_pair("strides", {1, 1});
    const std::vector<int64_t> dilation = r.size_pair("dilation_rate", {1, 1});
    r.padding();
    r.weight_options();
    if (strides != std::vector<int64_t>{1, 1} && dilation != std::vector<int64_t>{1, 1})
        r.problems.add(
            r.keys.key_loc("dilation_rate"),
            fmt::format("{}: strides and dilation_rate cannot both be above 1 (as in Keras)", r.path));
}

int64_t convolution_channels(LayerBuild & b) {
    const Shape s = b.in().shape();
    return b.image_input(s.rank() == 3
                             ? fmt::format("give the input a channel axis: input: [{}, {}, 1]", s[1], s[2])
                             : std::string("reshape the input to [height, width, channels]"));
}

void build_convolution(LayerBuild & b, int64_t channels, int64_t groups, int64_t filters, int64_t fan_in,
                       int64_t fan_out) {
    const LayerSpec & l = b.layer;
    if (channels % groups != 0 || filters % groups != 0)
        b.fail(fmt::format("groups {} must divide the {} input channels and the {} filters", groups, channels,
                           filters));
    const std::vector<int64_t> & kernel_size = l.integers("kernel_size");
    Value w = b.param("kernel", Shape{kernel_size[0], kernel_size[1], channels / groups, filters},
                      l.text("kernel_initializer"), fan_in, fan_out);
    Value z = b.g.op("conv2d", {b.in(), w},
                     {{"strides", l.integers("strides")},
                      {"dilation", l.integers("dilation_rate")},
                      {"padding", l.text("padding")},
                      {"groups", groups}});
    b.weighted_output(z, w, filters, fan_in, fan_out);
}

}  // namespace dl
