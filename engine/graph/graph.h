// The graph IR: a list of nodes in a valid execution order (every input precedes its consumer).
//   Graph g;
//   Value x = g.input("x", Shape{32, 13});
//   Value w = g.param("dense/kernel", Shape{13, 1});
//   Value y = g.op("matmul", {x, w});                 // shape inferred now: [32, 13] x [13, 1] -> [32, 1]
//   Value loss = g.op("mean", {y * y}, {{"axes", std::vector<int64_t>{}}});
//   g.mark_output("loss", loss);
// Composite ops (gelu, the losses) expand into primitives inside g.op(); each node keeps the YAML location it
// came from (g.set_location) so errors found later still point at the user's line.
#pragma once

#include <map>
#include <memory>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "core/source_loc.h"
#include "core/tensor.h"

namespace dl {

struct OpDef;
class Graph;

using AttrValue = std::variant<int64_t, double, std::string, std::vector<int64_t>>;

class Attrs {
public:
    Attrs() = default;
    Attrs(std::initializer_list<std::pair<const std::string, AttrValue>> init) : values_(init) {}

    void set(const std::string & key, AttrValue v) { values_[key] = std::move(v); }
    bool has(const std::string & key) const { return values_.count(key) != 0; }
    int64_t get_int(const std::string & key, int64_t fallback = 0) const;
    double get_float(const std::string & key, double fallback = 0.0) const;
    std::string get_str(const std::string & key, const std::string & fallback = {}) const;
    std::vector<int64_t> get_ints(const std::string & key, std::vector<int64_t> fallback = {}) const;
    // A view of an integer-list attribute (empty when absent): for kernels, which must not allocate.
    std::span<const int64_t> ints(const std::string & key) const;
    const std::map<std::string, AttrValue> & all() const { return values_; }
    std::string to_string() const;

private:
    std::map<std::string, AttrValue> values_;
};

struct Node {
    int id = -1;
    std::string op;  // registry key, e.g. "matmul"
    const OpDef * def = nullptr;
    std::vector<int> inputs;
    Attrs attrs;
    Shape shape;
    DType dtype = DType::f32;
    std::string name;  // for input/param nodes: the feed or parameter name
    SourceLoc loc;
    std::shared_ptr<Tensor> value;  // const nodes only
    bool dead = false;
};

struct Value {
    Graph * graph = nullptr;
    int id = -1;

    bool valid() const { return graph != nullptr && id >= 0; }
    const Node & node() const;
    Shape shape() const { return node().shape; }  // a copy: appending nodes moves them
};

class Graph {
public:
    Value input(const std::string & name, Shape shape, DType dtype = DType::f32);
    Value param(const std::string & name, Shape shape);
    Value constant(float v);
    Value constant(Tensor t);
    Value op(const std::string & op_name, std::vector<Value> inputs, Attrs attrs = {});

    // Nodes created after this call carry `loc` until the next call.
    void set_location(SourceLoc loc) { current_loc_ = std::move(loc); }
    const SourceLoc & location() const { return current_loc_; }

    void mark_output(const std::string & name, Value v) { outputs_[name] = v.id; }
    const std::map<std::string, int> & outputs() const { return outputs_; }
    std::map<std::string, int> & outputs_mut() { return outputs_; }
    Value output(const std::string & name);
    bool has_output(const std::string & name) const { return outputs_.count(name) != 0; }

    std::vector<Node> & nodes() { return nodes_; }
    const std::vector<Node> & nodes() const { return nodes_; }
    Node & node(int id) { return nodes_[static_cast<size_t>(id)]; }
    const Node & node(int id) const { return nodes_[static_cast<size_t>(id)]; }
    Value value(int id) { return {this, id}; }

    // Ids of all parameter nodes, in creation order.
    std::vector<int> params() const;

    // Re-runs shape inference on one node (after a pass rewrote it); throws on mismatch.
    void infer_node(Node & n);

    std::string dump() const;
    std::string dump_dot() const;

private:
    int append(Node n);

    std::vector<Node> nodes_;
    std::map<std::string, int> outputs_;
    SourceLoc current_loc_;
};

// Arithmetic sugar for gradient rules and composite ops; scalars become const nodes broadcast by the op.
Value operator+(Value a, Value b);
Value operator-(Value a, Value b);
Value operator*(Value a, Value b);
Value operator/(Value a, Value b);
Value operator-(Value a);
Value operator+(Value a, float b);
Value operator-(Value a, float b);
Value operator*(Value a, float b);
Value operator/(Value a, float b);
Value operator+(float a, Value b);
Value operator-(float a, Value b);
Value operator*(float a, Value b);
Value operator/(float a, Value b);

}  // namespace dl
