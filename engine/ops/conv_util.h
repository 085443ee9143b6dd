// What conv2d and its two gradient ops share: the geometry of a channels-last convolution (Keras' NHWC
// layout, filters [kh, kw, c / groups, f]) and the im2col / col2im copies between an image and its patch
// matrix.
//   ConvGeometry g;  if (auto err = conv_geometry(x_shape, w_shape, attrs, g); !err.empty()) fail(err);
// Attributes: strides [sh, sw] (default 1), dilation [dh, dw] (default 1), padding "valid" | "same" (as
// TensorFlow: out = ceil(in / stride), the smaller half of the padding before), groups (default 1).
#pragma once

#include <algorithm>
#include <cstring>
#include <string>

#include "ops/conv_geometry.h"
#include "ops/kernel_util.h"

namespace dl {

// Fills `g` from the input and filter shapes; returns what is wrong with them (empty when they fit). Takes
// views and allocates nothing unless something is wrong, so kernels can call it in the training step.
std::string conv_geometry(std::span<const int64_t> x, std::span<const int64_t> w, const Attrs & attrs,
                          ConvGeometry & g);
// The attributes that describe the convolution itself (what the gradient ops inherit).
Attrs conv_attrs(const Attrs & attrs);

// Rows of the patch matrix that the kernels process at a time: small enough to stay in cache, the same for
// any number of threads (Note [determinism]).
inline constexpr int64_t kConvTileRows = 128;
// Smaller tiles for small outputs (batch-1 inference: 121 pixels would be one tile on one thread). A function
// of the shape alone, so results still do not depend on the number of threads.
inline int64_t conv_tile_rows(int64_t rows) {
    if (rows >= 4 * kConvTileRows) return kConvTileRows;
    return std::clamp<int64_t>((rows / 4 + 7) / 8 * 8, 16, kConvTileRows);
}

// Writes rows [r0, r0 + count) of group `grp`'s patch matrix ([rows, patch], row-major) to `col`.
void im2col(const ConvGeometry & g, const float * x, int64_t grp, int64_t r0, int64_t count, float * col);
// Adds rows [r0, r0 + count) of a patch matrix back onto the image pixels they were copied from.
void col2im_add(const ConvGeometry & g, const float * col, int64_t grp, int64_t r0, int64_t count, float * x);

}  // namespace dl
