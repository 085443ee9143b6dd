#include "ops/kernel_util.h"

#include <algorithm>
#include <set>

namespace dl {

std::vector<int64_t> broadcast_strides(const Shape & shape, const Shape & out) {
    const int rank = out.rank();
    std::vector<int64_t> strides(static_cast<size_t>(rank), 0);
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

std::vector<int> reduction_axes(const Shape & in, const Attrs & attrs) {
    std::vector<int> axes;
    const std::vector<int64_t> raw = attrs.get_ints("axes");
    if (raw.empty()) {
        for (int d = 0; d < in.rank(); ++d) axes.push_back(d);
        return axes;
    }
    std::set<int> unique;
    for (int64_t a : raw) unique.insert(normalize_axis(a, in.rank()));
    return {unique.begin(), unique.end()};
}

std::vector<int> reduction_axes(ShapeCtx & c) {
    for (int64_t a : c.attrs().get_ints("axes"))
        if (normalize_axis(a, c.in(0).rank()) < 0) c.fail("axis {} is out of range for shape {}", a, to_string(c.in(0)));
    return reduction_axes(c.in(0), c.attrs());
}

Shape reduced_shape(const Shape & in, const std::vector<int> & axes, bool keepdims) {
    Shape out;
    for (int d = 0; d < in.rank(); ++d) {
        const bool r = std::find(axes.begin(), axes.end(), d) != axes.end();
        if (!r) out.dims.push_back(in[d]);
        else if (keepdims) out.dims.push_back(1);
    }
    return out;
}

}  // namespace dl
