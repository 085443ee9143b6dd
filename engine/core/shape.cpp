#include "core/shape.h"

#include <algorithm>

namespace dl {

std::string to_string(const Shape & s) {
    std::string out = "[";
    for (size_t i = 0; i < s.dims.size(); ++i) {
        if (i) out += ", ";
        out += std::to_string(s.dims[i]);
    }
    return out + "]";
}

bool broadcast_shapes(const Shape & a, const Shape & b, Shape & out) {
    const int rank = std::max(a.rank(), b.rank());
    out.dims.assign(static_cast<size_t>(rank), 1);
    for (int i = 0; i < rank; ++i) {
        const int ia = a.rank() - rank + i, ib = b.rank() - rank + i;
        const int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
        if (da != db && da != 1 && db != 1) return false;
        out[i] = da == 1 ? db : da;
    }
    return true;
}

int normalize_axis(int64_t axis, int rank) {
    if (axis < 0) axis += rank;
    return (axis >= 0 && axis < rank) ? static_cast<int>(axis) : -1;
}

}  // namespace dl
