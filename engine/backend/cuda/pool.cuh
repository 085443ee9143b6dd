// The pooling window geometry (ops/pool_util.h's Pool2d, read from the node) and the window's argmax with the
// CPU's tie rule (the first maximum wins), for the pooling kernels.
#pragma once

#include "backend/cuda/kernel.h"

namespace dl::cuda {

struct Pool {
    int64_t n, h, w, c, oh, ow, ph, pw, sh, sw, top, left;
};

// `in` is the pooled input [n, h, w, c], `out` the pooled output [n, oh, ow, c].
inline Pool pool_of(const Args & a, const Tensor & in, const Tensor & out) {
    int64_t pool[2] = {1, 1}, strides[2] = {1, 1};
    attr_ints(a, "pool", pool, 2);
    attr_ints(a, "strides", strides, 2);
    Pool p{in.dims[0], in.dims[1], in.dims[2], in.dims[3], out.dims[1], out.dims[2],
           pool[0],    pool[1],    strides[0], strides[1], 0,           0};
    const int64_t rows = (p.oh - 1) * p.sh + p.ph - p.h, cols = (p.ow - 1) * p.sw + p.pw - p.w;
    p.top = (rows > 0 ? rows : 0) / 2;
    p.left = (cols > 0 ? cols : 0) / 2;
    return p;
}

// Output value o of [n, oh, ow, c], as (image, row, column, channel).
struct PoolOutput {
    int64_t n, i, j, ch;
};
__device__ inline PoolOutput pool_output(const Pool & p, int64_t o) {
    return {o / (p.c * p.ow * p.oh), (o / (p.c * p.ow)) % p.oh, (o / p.c) % p.ow, o % p.c};
}

struct Window {
    int64_t r0, r1, q0, q1;
};

__device__ inline Window window_of(const Pool & p, int64_t i, int64_t j) {
    const int64_t r = i * p.sh - p.top, q = j * p.sw - p.left;
    return {r > 0 ? r : 0, r + p.ph < p.h ? r + p.ph : p.h, q > 0 ? q : 0, q + p.pw < p.w ? q + p.pw : p.w};
}

// The position (a * w + b) of the window's maximum of channel ch in image xn; `best` gets its value.
__device__ inline int64_t window_argmax(const Pool & p, const float * xn, const Window & win, int64_t ch,
                                        float & best) {
    int64_t at = win.r0 * p.w + win.q0;
    best = xn[at * p.c + ch];
    for (int64_t a = win.r0; a < win.r1; ++a)
        for (int64_t b = a == win.r0 ? win.q0 + 1 : win.q0; b < win.q1; ++b) {
            const float v = xn[(a * p.w + b) * p.c + ch];
            if (v > best) {  // strictly: ties keep the first
                best = v;
                at = a * p.w + b;
            }
        }
    return at;
}

}  // namespace dl::cuda
