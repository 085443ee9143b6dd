#include "ops/conv_util.h"

#include <algorithm>

namespace dl {

namespace {
std::pair<int64_t, int64_t> pair_attr(const Attrs & attrs, const char * key) {
    const std::span<const int64_t> v = attrs.ints(key);
    if (v.empty()) return {1, 1};
    if (v.size() == 1) return {v[0], v[0]};
    if (v.size() != 2) return {0, 0};
    return {v[0], v[1]};
}
}  // namespace

std::string conv_geometry(std::span<const int64_t> x_dims, std::span<const int64_t> w_dims,
                          const Attrs & attrs, ConvGeometry & g) {
    auto text = [](std::span<const int64_t> d) { return fmt::format("[{}]", fmt::join(d, ", ")); };
    if (x_dims.size() != 4)
        return fmt::format("expects a [batch, height, width, channels] input, got {}", text(x_dims));
    if (w_dims.size() != 4)
        return fmt::format("expects a [kh, kw, in_channels, filters] filter, got {}", text(w_dims));
    const auto & x = x_dims;
    const auto & w = w_dims;
    g.n = x[0], g.h = x[1], g.w = x[2], g.c = x[3];
    g.kh = w[0], g.kw = w[1], g.f = w[3];
    g.groups = attrs.get_int("groups", 1);
    std::tie(g.sh, g.sw) = pair_attr(attrs, "strides");
    std::tie(g.dh, g.dw) = pair_attr(attrs, "dilation");
    const std::string padding = attrs.get_str("padding", "valid");  // short: no allocation
    if (padding != "valid" && padding != "same")
        return fmt::format("padding must be valid or same, got '{}'", padding);
    if (g.sh < 1 || g.sw < 1) return "strides must be positive";
    if (g.dh < 1 || g.dw < 1) return "dilation must be positive";
    if ((g.sh > 1 || g.sw > 1) && (g.dh > 1 || g.dw > 1))
        return "strides and dilation cannot both be above 1 (as in Keras)";
    if (g.groups < 1 || g.c % g.groups != 0 || g.f % g.groups != 0)
        return fmt::format("groups {} must divide the input channels {} and the filters {}", g.groups, g.c,
                           g.f);
    if (w[2] * g.groups != g.c)
        return fmt::format(
            "filter {} expects {} input channels per group, the input {} has {} in {} group(s)", text(w),
            w[2], text(x), g.c, g.groups);
    if (g.kh < 1 || g.kw < 1 || g.f < 1) return fmt::format("filter {} is empty", text(w));
    const bool same = padding == "same";
    if (!resolve_conv_axis(g.h, g.kh, g.sh, g.dh, same, g.oh, g.pad_top) ||
        !resolve_conv_axis(g.w, g.kw, g.sw, g.dw, same, g.ow, g.pad_left))
        return fmt::format("a {}x{} window (dilation {}x{}) does not fit the {}x{} input with padding valid",
                           g.kh, g.kw, g.dh, g.dw, g.h, g.w);
    return {};
}

Attrs conv_attrs(const Attrs & attrs) {
    Attrs out;
    for (const char * key : {"strides", "dilation", "padding", "groups"})
        if (attrs.has(key)) out.set(key, attrs.all().at(key));
    return out;
}

void im2col(const ConvGeometry & g, const float * x, int64_t grp, int64_t r0, int64_t count, float * col) {
    const int64_t cg = g.cg(), patch = g.patch(), pixels = g.oh * g.ow;
    int64_t n = r0 / pixels, oy = (r0 % pixels) / g.ow, ox = r0 % g.ow;
    for (int64_t r = 0; r < count; ++r) {
        float * dst = col + r * patch;
        const float * image = x + n * g.h * g.w * g.c + grp * cg;
        for (int64_t ky = 0; ky < g.kh; ++ky) {
            const int64_t iy = oy * g.sh - g.pad_top + ky * g.dh;
            if (iy < 0 || iy >= g.h) {
                std::memset(dst, 0, static_cast<size_t>(g.kw * cg) * sizeof(float));
                dst += g.kw * cg;
                continue;
            }
            for (int64_t kx = 0; kx < g.kw; ++kx, dst += cg) {
                const int64_t ix = ox * g.sw - g.pad_left + kx * g.dw;
                if (ix < 0 || ix >= g.w) {
                    std::memset(dst, 0, static_cast<size_t>(cg) * sizeof(float));
                } else {
                    const float * src = image + (iy * g.w + ix) * g.c;
                    if (cg == 1)
                        *dst = *src;
                    else
                        std::memcpy(dst, src, static_cast<size_t>(cg) * sizeof(float));
                }
            }
        }
        if (++ox == g.ow) {
            ox = 0;
            if (++oy == g.oh) oy = 0, ++n;
        }
    }
}

void col2im_add(const ConvGeometry & g, const float * col, int64_t grp, int64_t r0, int64_t count,
                float * x) {
    const int64_t cg = g.cg(), patch = g.patch(), pixels = g.oh * g.ow;
    int64_t n = r0 / pixels, oy = (r0 % pixels) / g.ow, ox = r0 % g.ow;
    for (int64_t r = 0; r < count; ++r) {
        const float * src = col + r * patch;
        float * image = x + n * g.h * g.w * g.c + grp * cg;
        for (int64_t ky = 0; ky < g.kh; ++ky) {
            const int64_t iy = oy * g.sh - g.pad_top + ky * g.dh;
            if (iy < 0 || iy >= g.h) {
                src += g.kw * cg;
                continue;
            }
            for (int64_t kx = 0; kx < g.kw; ++kx, src += cg) {
                const int64_t ix = ox * g.sw - g.pad_left + kx * g.dw;
                if (ix < 0 || ix >= g.w) continue;
                float * dst = image + (iy * g.w + ix) * g.c;
                for (int64_t ch = 0; ch < cg; ++ch) dst[ch] += src[ch];
            }
        }
        if (++ox == g.ow) {
            ox = 0;
            if (++oy == g.oh) oy = 0, ++n;
        }
    }
}

}  // namespace dl
