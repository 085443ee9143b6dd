// What the convolution kernels share (conv2d, conv2d_grad, conv2d_grad_filter): the geometry
// from the node's attributes (ops/conv_geometry.h, as the CPU computes it), and im2col / col2im for one
// group. Convolution is im2col + cuBLAS SGEMM per group, like the CPU kernels; cuDNN is still to be measured
// against it.
#pragma once

#include "backend/cuda/matmul.cuh"
#include "ops/conv_geometry.h"

namespace dl::cuda {

// Shapes were checked when the graph was built; this only reads them.
inline ConvGeometry conv_geometry_of(const Args & a, const Tensor & x, const int64_t * w_dims) {
    ConvGeometry g;
    g.n = x.dims[0], g.h = x.dims[1], g.w = x.dims[2], g.c = x.dims[3];
    g.kh = w_dims[0], g.kw = w_dims[1], g.f = w_dims[3];
    g.groups = attr_int(a, "groups", 1);
    int64_t v[2];
    const int strides = attr_ints(a, "strides", v, 2);
    g.sh = strides >= 1 ? v[0] : 1;
    g.sw = strides >= 2 ? v[1] : g.sh;
    const int dilation = attr_ints(a, "dilation", v, 2);
    g.dh = dilation >= 1 ? v[0] : 1;
    g.dw = dilation >= 2 ? v[1] : g.dh;
    const bool same = attr_is(a, "padding", "same", "valid");
    resolve_conv_axis(g.h, g.kh, g.sh, g.dh, same, g.oh, g.pad_top);
    resolve_conv_axis(g.w, g.kw, g.sw, g.dw, same, g.ow, g.pad_left);
    return g;
}

// col[r, (ky, kx, ci)] = x[n, oy*sh - pad + ky*dh, ox*sw - pad + kx*dw, grp*cg + ci], 0 outside the image.
__global__ inline void im2col_kernel(ConvGeometry g, const float * __restrict__ x, int64_t grp,
                                     float * __restrict__ col) {
    const int64_t cg = g.cg(), patch = g.patch(), total = g.rows() * patch;
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
         i += int64_t{blockDim.x} * gridDim.x) {
        const int64_t r = i / patch, p = i % patch;
        const int64_t ci = p % cg, kx = (p / cg) % g.kw, ky = p / (cg * g.kw);
        const int64_t n = r / (g.oh * g.ow), oy = (r / g.ow) % g.oh, ox = r % g.ow;
        const int64_t iy = oy * g.sh - g.pad_top + ky * g.dh, ix = ox * g.sw - g.pad_left + kx * g.dw;
        col[i] = iy < 0 || iy >= g.h || ix < 0 || ix >= g.w
                     ? 0.0f
                     : x[((n * g.h + iy) * g.w + ix) * g.c + grp * cg + ci];
    }
}

inline void im2col(const Args & a, const ConvGeometry & g, const float * x, int64_t grp, float * col) {
    im2col_kernel<<<blocks_for(g.rows() * g.patch()), 256, 0, a.stream>>>(g, x, grp, col);
}

// The gather form of col2im: each input pixel of the group adds the patch entries that were copied from it,
// in a fixed order (no atomics: the same bits every run).
__global__ inline void col2im_kernel(ConvGeometry g, const float * __restrict__ col, int64_t grp,
                                     float * __restrict__ dx) {
    const int64_t cg = g.cg(), patch = g.patch(), total = g.n * g.h * g.w * cg;
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
         i += int64_t{blockDim.x} * gridDim.x) {
        const int64_t ci = i % cg, ix = (i / cg) % g.w, iy = (i / (cg * g.w)) % g.h, n = i / (cg * g.w * g.h);
        float sum = 0.0f;
        for (int64_t ky = 0; ky < g.kh; ++ky) {
            const int64_t ty = iy + g.pad_top - ky * g.dh;
            if (ty < 0 || ty % g.sh != 0 || ty / g.sh >= g.oh) continue;
            for (int64_t kx = 0; kx < g.kw; ++kx) {
                const int64_t tx = ix + g.pad_left - kx * g.dw;
                if (tx < 0 || tx % g.sw != 0 || tx / g.sw >= g.ow) continue;
                const int64_t r = (n * g.oh + ty / g.sh) * g.ow + tx / g.sw;
                sum += col[r * patch + (ky * g.kw + kx) * cg + ci];
            }
        }
        dx[((n * g.h + iy) * g.w + ix) * g.c + grp * cg + ci] = sum;
    }
}

inline void col2im(const Args & a, const ConvGeometry & g, const float * col, int64_t grp, float * dx) {
    col2im_kernel<<<blocks_for(g.n * g.h * g.w * g.cg()), 256, 0, a.stream>>>(g, col, grp, dx);
}

}  // namespace dl::cuda
