// What the convolution layers (conv2d, depthwise_conv2d) share after their own options.
#pragma once

#include "model/layer_build.h"

namespace dl {

// kernel_size, strides, dilation_rate, padding and the weight options, with Keras' checks.
void read_convolution_window(LayerReader & r);
// The input's channels; a located error unless it is [batch, height, width, channels].
int64_t convolution_channels(LayerBuild & b);
// The convolution with `groups` groups into `filters` channels, then the bias and the activation.
void build_convolution(LayerBuild & b, int64_t channels, int64_t groups, int64_t filters, int64_t fan_in,
                       int64_t fan_out);

}  // namespace dl
