// The window geometry the pooling ops share (channels-last [n, h, w, c]), from the input and output shapes:
// max_pool2d's shape inference holds the rules for `pool`, `strides` and `padding`; this recovers the padding
// in front (0 for "valid"; for "same" the smaller half, as TensorFlow).
#pragma once

#include <algorithm>

#include "ops/kernel_util.h"
#include "ops/onnx_ctx.h"

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

// Channels are taken in blocks of this many so that the running maxima live on the stack.
inline constexpr int64_t kPoolBlock = 128;

// The first maximum (row-major in the window) of channels [c0, c0 + m) over the window rows [r0, r1) and
// columns [q0, q1) of image `xn`: its value in best[], its spatial index (a * w + b) in at[]. Ties keep the
// first, as max_pool2d_grad routes and max_pool2d_grad_grad reads.
inline void window_argmax(const Pool2d & p, const float * xn, int64_t r0, int64_t r1, int64_t q0, int64_t q1,
                          int64_t c0, int64_t m, float * best, int32_t * at) {
    const int32_t start = static_cast<int32_t>(r0 * p.w + q0);
    std::copy(xn + start * p.c + c0, xn + start * p.c + c0 + m, best);
    std::fill(at, at + m, start);
    for (int64_t a = r0; a < r1; ++a)
        for (int64_t b = a == r0 ? q0 + 1 : q0; b < q1; ++b) {
            const int32_t s = static_cast<int32_t>(a * p.w + b);
            const float * __restrict v = xn + s * p.c + c0;
            for (int64_t ch = 0; ch < m; ++ch) {
                const bool take = v[ch] > best[ch];  // strictly: ties keep the first
                best[ch] = take ? v[ch] : best[ch];
                at[ch] = take ? s : at[ch];
            }
        }
}

// The window attributes of ONNX's MaxPool/AveragePool for this geometry: "same" as explicit pads.
inline Attrs onnx_pool_attrs(const Pool2d & p) {
    const int64_t bottom = onnx_pad_after(p.h, p.oh, p.ph, p.sh, p.top);
    const int64_t right = onnx_pad_after(p.w, p.ow, p.pw, p.sw, p.left);
    return {{"kernel_shape", std::vector<int64_t>{p.ph, p.pw}},
            {"strides", std::vector<int64_t>{p.sh, p.sw}},
            {"pads", std::vector<int64_t>{p.top, p.left, bottom, right}}};
}

}  // namespace dl
