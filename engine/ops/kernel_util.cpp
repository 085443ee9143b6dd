#include "ops/kernel_util.h"

#include <algorithm>

namespace dl {

Strides broadcast_strides(const Shape & shape, const Shape & out) {
    const int rank = out.rank();
    DL_ASSERT(rank <= kMaxRank);
    Strides strides{};
    int64_t st = 1;
    for (int d = shape.rank() - 1; d >= 0; --d) {
        const int od = rank - shape.rank() + d;
        strides[static_cast<size_t>(od)] = shape[d] == 1 ? 0 : st;
        st *= shape[d];
    }
    return strides;
}

OutInfo infer_broadcast(ShapeCtx & c) {
    Shape out;
    if (!broadcast_shapes(c.in(0), c.in(1), out))
        c.fail("shapes {} and {} cannot be broadcast together", to_string(c.in(0)), to_string(c.in(1)));
    return {out};
}

OutInfo infer_same(ShapeCtx & c) { return {c.in(0), c.in_dtype(0)}; }

AxisList reduction_axes(const Shape & in, const Attrs & attrs) {
    AxisList axes;
    const std::span<const int64_t> raw = attrs.ints("axes");
    bool chosen[kMaxRank] = {};
    for (int64_t a : raw) {
        const int d = normalize_axis(a, in.rank());
        if (d >= 0) chosen[d] = true;
    }
    for (int d = 0; d < in.rank(); ++d)
        if (raw.empty() || chosen[d]) axes.push_back(d);
    return axes;
}

AxisList reduction_axes(ShapeCtx & c) {
    for (int64_t a : c.attrs().get_ints("axes"))
        if (normalize_axis(a, c.in(0).rank()) < 0)
            c.fail("axis {} is out of range for shape {}", a, to_string(c.in(0)));
    return reduction_axes(c.in(0), c.attrs());
}

OutInfo infer_reduction(ShapeCtx & c) {
    return {reduced_shape(c.in(0), reduction_axes(c), c.attrs().get_int("keepdims") != 0)};
}

Shape reduced_shape(const Shape & in, std::span<const int> axes, bool keepdims) {
    Shape out;
    for (int d = 0; d < in.rank(); ++d) {
        const bool r = std::find(axes.begin(), axes.end(), d) != axes.end();
        if (!r)
            out.dims.push_back(in[d]);
        else if (keepdims)
            out.dims.push_back(1);
    }
    return out;
}

}  // namespace dl
