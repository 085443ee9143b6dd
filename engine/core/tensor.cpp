#include "core/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "core/error.h"

namespace dl {

size_t dtype_size(DType t) {
    switch (t) {
        case DType::f32:
            return 4;
        case DType::i32:
            return 4;
        case DType::i64:
            return 8;
    }
    return 4;
}

const char * dtype_name(DType t) {
    switch (t) {
        case DType::f32:
            return "f32";
        case DType::i32:
            return "i32";
        case DType::i64:
            return "i64";
    }
    return "?";
}

MatrixMap TensorView::matrix() const {
    const int64_t cols = shape.rank() == 0 ? 1 : shape[shape.rank() - 1];
    const int64_t rows = cols == 0 ? 0 : numel() / cols;
    return MatrixMap(f32(), rows, cols);
}

std::byte * aligned_alloc_bytes(size_t bytes) {
    const size_t rounded = ((bytes + 63) / 64) * 64;
    void * p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, rounded == 0 ? 64 : rounded);
    return static_cast<std::byte *>(p);
}

void aligned_free_bytes(std::byte * p) { std::free(p); }

void Tensor::Free::operator()(std::byte * p) const { aligned_free_bytes(p); }

Tensor::Tensor(Shape shape, DType dtype)
    : buffer_(aligned_alloc_bytes(static_cast<size_t>(shape.numel()) * dtype_size(dtype)), Free{}),
      shape_(std::move(shape)),
      dtype_(dtype) {}

}  // namespace dl
