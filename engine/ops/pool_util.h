// The window geometry the pooling ops share (channels-last [n, h, w, c]), from the input and output shapes:
// max_pool2d's shape inference holds the rules for `pool`, `strides` and `padding`; this recovers the padding in
// front (0 for "valid"; for "same" the smaller half, as TensorFlow).
#pragma once

#include <algorithm>

#include "ops/kernel_util.h"

namespace dl {

struct Pool2d {
    int64_t n, h, w, c, oh, ow, ph, pw, sh, sw, top, left;
};

inline Pool2d pool2d(const Shape & in, const Shape & out, const Attrs & a) {
    const std::span<const int64_t> pool = a.ints("pool"), strides = a.ints("strides");
    Pool2d p{in[0], in[1], in[2], in[3], out[1], out[2], pool[0], pool[1], strides[0], strides[1], 0, 0};
    p.top = std::max<int64_t>((p.oh - 1) * p.sh + p.ph - p.h, 0) / 2;
    p.left = std::max<int64_t>((p.ow - 1) * p.sw + p.pw - p.w, 0) / 2;
    return p;
}

}  // namespace dl
