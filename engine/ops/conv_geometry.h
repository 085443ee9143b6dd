// The geometry of a channels-last convolution, free of engine types so the CUDA kernels (conv2d*.cu) compute
// exactly what the CPU kernels do. conv_util.h builds it from a node's attributes (conv_geometry).
#pragma once

#include <cstdint>

#include "core/host_device.h"

namespace dl {

struct ConvGeometry {
    int64_t n = 0, h = 0, w = 0, c = 0;  // input [n, h, w, c]
    int64_t kh = 0, kw = 0, f = 0;       // filter [kh, kw, c / groups, f]
    int64_t oh = 0, ow = 0;              // output [n, oh, ow, f]
    int64_t sh = 1, sw = 1, dh = 1, dw = 1;
    int64_t pad_top = 0, pad_left = 0;
    int64_t groups = 1;

    DL_HOST_DEVICE int64_t cg() const { return c / groups; }
    DL_HOST_DEVICE int64_t fg() const { return f / groups; }
    DL_HOST_DEVICE int64_t patch() const { return kh * kw * cg(); }  // columns of one group's patch matrix
    DL_HOST_DEVICE int64_t rows() const {
        return n * oh * ow;
    }  // rows of the patch matrix: one per output pixel
    // A 1x1 convolution over every pixel is a plain matrix product: no patch matrix needed.
    DL_HOST_DEVICE bool pointwise() const {
        return kh == 1 && kw == 1 && sh == 1 && sw == 1 && pad_top == 0 && pad_left == 0 && groups == 1;
    }
};

// Output size and the padding in front along one axis, TensorFlow's rules for "valid" and "same"; false when
// a "valid" window does not fit.
inline bool resolve_conv_axis(int64_t in, int64_t k, int64_t stride, int64_t dilation, bool same,
                              int64_t & out, int64_t & before) {
    const int64_t span = (k - 1) * dilation + 1;
    if (same) {
        out = (in + stride - 1) / stride;
        const int64_t total = (out - 1) * stride + span - in;
        before = total > 0 ? total / 2 : 0;
        return out > 0;
    }
    before = 0;
    if (in < span) return false;
    out = (in - span) / stride + 1;
    return true;
}

}  // namespace dl
