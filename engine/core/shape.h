// Shapes are small vectors of extents, row-major (the last axis is contiguous).
//   Shape s{32, 13};  s.rank() == 2;  s.numel() == 416;  to_string(s) == "[32, 13]"
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dl {

struct Shape {
    std::vector<int64_t> dims;

    Shape() = default;
    Shape(std::initializer_list<int64_t> d) : dims(d) {}
    explicit Shape(std::vector<int64_t> d) : dims(std::move(d)) {}

    int rank() const { return static_cast<int>(dims.size()); }
    int64_t operator[](int axis) const { return dims[static_cast<size_t>(axis)]; }
    int64_t & operator[](int axis) { return dims[static_cast<size_t>(axis)]; }
    int64_t numel() const {
        int64_t n = 1;
        for (int64_t d : dims) n *= d;
        return n;
    }
    bool operator==(const Shape &) const = default;
};

std::string to_string(const Shape & s);

// Numpy broadcasting of two shapes; returns false when they are incompatible.
bool broadcast_shapes(const Shape & a, const Shape & b, Shape & out);

// Resolves a possibly negative axis against a rank; returns -1 when out of range.
int normalize_axis(int64_t axis, int rank);

}  // namespace dl
