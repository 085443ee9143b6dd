// How an op says what it is in ONNX (`dlctl export`, export/onnx_export.cpp): its file sets OpDef::onnx to a
// function that adds ONNX nodes through this context and returns the name of the value standing for the op's
// output.
//   // engine/ops/softmax.cpp
//   std::string onnx(OnnxCtx & c) { return c.add("Softmax", {c.in(0)}, {{"axis", int64_t{-1}}}); }
//   DL_REGISTER_OP({.name = "softmax", ..., .onnx = onnx});
// The graph translated is the prediction graph built at batch 1; ONNX's batch axis is dynamic ("batch").
// Values keep dlctl's layouts (channels last), so ops whose ONNX form is channels first wrap it:
// channels_first(). No protobuf type appears here; the exporter implements the context.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "graph/op.h"

namespace dl {

// ONNX's TensorProto.DataType numbers (fixed by the ONNX standard).
enum class OnnxType : int64_t { f32 = 1, i32 = 6, i64 = 7, string = 8 };
inline OnnxType onnx_type(DType t) {
    return t == DType::f32 ? OnnxType::f32 : t == DType::i32 ? OnnxType::i32 : OnnxType::i64;
}

// ONNX takes explicit pads where dlctl says "same": a window of `span` (dilated) values sliding by `stride`
// over `in` values into `out` positions, `before` of the padding in front, needs this much behind (TensorFlow
// puts the odd one there); 0 for "valid".
inline int64_t onnx_pad_after(int64_t in, int64_t out, int64_t span, int64_t stride, int64_t before) {
    return std::max<int64_t>((out - 1) * stride + span - in, 0) - before;
}

class OnnxCtx {
public:
    virtual ~OnnxCtx() = default;

    virtual const Node & node() const = 0;
    const Attrs & attrs() const { return node().attrs; }
    const Shape & out_shape() const { return node().shape; }
    int num_inputs() const { return static_cast<int>(node().inputs.size()); }

    // The ONNX value of input i. Parameters and constants become initializers here, on first use, so a hook
    // that converts a constant itself (conv2d's filter to OIHW) leaves no unused copy behind.
    virtual std::string in(int i) = 0;
    virtual const Shape & in_shape(int i) const = 0;  // as built: axis 0 of a batched value is 1
    virtual DType in_dtype(int i) const = 0;
    // Input i's value when it is known at export (a parameter or a constant), else nullptr.
    virtual const Tensor * in_value(int i) const = 0;
    // Whether axis 0 of input i is the batch (the value depends on the model's input). Attributes that hold
    // the batch size (a reshape's target shape) must not write it into the ONNX graph as a literal 1.
    virtual bool batched(int i) const = 0;

    // Adds a node with one output and returns the output's name. Attributes: int64_t -> INT, double -> FLOAT,
    // std::string -> STRING, std::vector<int64_t> -> INTS.
    virtual std::string add(const std::string & op_type, std::vector<std::string> inputs,
                            const Attrs & attrs = {}) = 0;
    // An initializer holding `t` (named `name` when given, which must be unique), returning its name.
    virtual std::string initializer(const Tensor & t, const std::string & name = {}) = 0;
    // A 1-D int64 initializer (shapes, pads, axes given as inputs).
    virtual std::string ints(const std::vector<int64_t> & values) = 0;

    // For leaf ops: the ONNX value that feeds the graph input `name` ("x": the model's input after
    // normalisation), and the value of this parameter or constant node.
    virtual std::string feed(const std::string & name) = 0;
    virtual const Tensor & own_value() const = 0;

    // This use of the op cannot be expressed (it reshapes across the batch axis): Error(bad_input) at the
    // layer's location.
    [[noreturn]] void fail(const std::string & why) const {
        throw Error(
            ExitCode::bad_input,
            format_at(node().loc, fmt::format("op '{}' has no ONNX form here: it {}", node().op, why)));
    }

    // `op_type` (ONNX's channels-first Conv, MaxPool, AveragePool) on the channels-last `inputs[0]`:
    // transposed to NCHW, the op, transposed back. The other inputs (weights) must already be in ONNX's
    // layout.
    std::string channels_first(const std::string & op_type, std::vector<std::string> inputs,
                               const Attrs & attrs, const std::string & activation = {}) {
        inputs[0] = add("Transpose", {inputs[0]}, {{"perm", std::vector<int64_t>{0, 3, 1, 2}}});
        std::string y = add(op_type, std::move(inputs), attrs);
        if (!activation.empty()) y = add(activation, {y});
        return add("Transpose", {y}, {{"perm", std::vector<int64_t>{0, 2, 3, 1}}});
    }
};

}  // namespace dl
