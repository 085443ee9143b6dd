// Tensors: a dtype, a shape and a pointer into storage owned elsewhere (an arena, a parameter store).
//   Tensor t = Tensor::zeros(Shape{4, 3});          // owning buffer, 64-byte aligned
//   TensorView v = t.view();  v.f32()[0] = 1.0f;
//   auto m = v.matrix();                            // Eigen row-major map [rows = all but last, cols = last]
#pragma once

#include <Eigen/Core>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/shape.h"

namespace dl {

enum class DType : uint8_t { f32, i32, i64 };

size_t dtype_size(DType t);
const char * dtype_name(DType t);

using RowMatrixXf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixMap = Eigen::Map<RowMatrixXf>;
using ConstMatrixMap = Eigen::Map<const RowMatrixXf>;
using ArrayMap = Eigen::Map<Eigen::ArrayXf>;

struct TensorView {
    void * data = nullptr;
    DType dtype = DType::f32;
    Shape shape;

    int64_t numel() const { return shape.numel(); }
    size_t bytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
    float * f32() const { return static_cast<float *>(data); }
    int32_t * i32() const { return static_cast<int32_t *>(data); }
    int64_t * i64() const { return static_cast<int64_t *>(data); }
    ArrayMap array() const { return ArrayMap(f32(), numel()); }
    // Rows = product of all leading axes, cols = last axis (a scalar is 1x1).
    MatrixMap matrix() const;
    // Reads element i of an integer tensor of either width.
    int64_t index_at(int64_t i) const { return dtype == DType::i64 ? i64()[i] : i32()[i]; }
};

// An owning, aligned buffer; used for parameters, constants and host-side data.
class Tensor {
public:
    Tensor() = default;
    Tensor(Shape shape, DType dtype = DType::f32);
    static Tensor zeros(Shape shape, DType dtype = DType::f32) { return Tensor(std::move(shape), dtype); }

    TensorView view() const { return {buffer_.get(), dtype_, shape_}; }
    const Shape & shape() const { return shape_; }
    DType dtype() const { return dtype_; }
    float * f32() const { return static_cast<float *>(static_cast<void *>(buffer_.get())); }
    int64_t numel() const { return shape_.numel(); }
    size_t bytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
    bool empty() const { return !buffer_; }

private:
    struct Free {
        void operator()(std::byte * p) const;
    };
    std::shared_ptr<std::byte> buffer_;
    Shape shape_;
    DType dtype_ = DType::f32;
};

// 64-byte aligned allocation shared by arenas and tensors.
std::byte * aligned_alloc_bytes(size_t bytes);
void aligned_free_bytes(std::byte * p);

}  // namespace dl
