#include "graph/graph.h"

#include <fmt/format.h>

#include "graph/op.h"

namespace dl {

int64_t Attrs::get_int(const std::string & key, int64_t fallback) const {
    auto it = values_.find(key);
    if (it == values_.end()) return fallback;
    if (auto * v = std::get_if<int64_t>(&it->second)) return *v;
    if (auto * d = std::get_if<double>(&it->second)) return static_cast<int64_t>(*d);
    return fallback;
}

double Attrs::get_float(const std::string & key, double fallback) const {
    auto it = values_.find(key);
    if (it == values_.end()) return fallback;
    if (auto * d = std::get_if<double>(&it->second)) return *d;
    if (auto * v = std::get_if<int64_t>(&it->second)) return static_cast<double>(*v);
    return fallback;
}

std::string Attrs::get_str(const std::string & key, const std::string & fallback) const {
    auto it = values_.find(key);
    if (it == values_.end()) return fallback;
    if (auto * s = std::get_if<std::string>(&it->second)) return *s;
    return fallback;
}

std::vector<int64_t> Attrs::get_ints(const std::string & key, std::vector<int64_t> fallback) const {
    auto it = values_.find(key);
    if (it == values_.end()) return fallback;
    if (auto * v = std::get_if<std::vector<int64_t>>(&it->second)) return *v;
    return fallback;
}

std::span<const int64_t> Attrs::ints(const std::string & key) const {
    auto it = values_.find(key);
    if (it == values_.end()) return {};
    if (auto * v = std::get_if<std::vector<int64_t>>(&it->second)) return *v;
    return {};
}

std::string Attrs::to_string() const {
    std::string out;
    for (auto & [k, v] : values_) {
        if (!out.empty()) out += ", ";
        out += k + "=";
        std::visit(
            [&](auto && x) {
                using T = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<T, std::vector<int64_t>>)
                    out += fmt::format("[{}]", fmt::join(x, ", "));
                else
                    out += fmt::format("{}", x);
            },
            v);
    }
    return out;
}

const Node & Value::node() const { return graph->node(id); }

int Graph::append(Node n) {
    n.id = static_cast<int>(nodes_.size());
    if (!n.loc.known() && n.loc.file.empty()) n.loc = current_loc_;
    nodes_.push_back(std::move(n));
    return nodes_.back().id;
}

Value Graph::input(const std::string & name, Shape shape, DType dtype) {
    Node n{.op = "input", .def = find_op("input"), .shape = std::move(shape), .dtype = dtype, .name = name};
    return {this, append(std::move(n))};
}

Value Graph::param(const std::string & name, Shape shape) {
    Node n{.op = "param", .def = find_op("param"), .shape = std::move(shape), .name = name};
    return {this, append(std::move(n))};
}

Value Graph::constant(float v) {
    Tensor t(Shape{});
    t.f32()[0] = v;
    return constant(std::move(t));
}

Value Graph::constant(Tensor t) {
    Node n{.op = "const", .def = find_op("const"), .shape = t.shape(), .dtype = t.dtype()};
    n.value = std::make_shared<Tensor>(std::move(t));
    return {this, append(std::move(n))};
}

void Graph::infer_node(Node & n) {
    ShapeCtx ctx{*this, n};
    OutInfo info = n.def->infer(ctx);
    n.shape = std::move(info.shape);
    n.dtype = info.dtype;
}

Value Graph::op(const std::string & op_name, std::vector<Value> inputs, Attrs attrs) {
    const OpDef * def = find_op(op_name);
    DL_ASSERT(def != nullptr);
    if (def->arity >= 0) DL_ASSERT(static_cast<int>(inputs.size()) == def->arity);
    if (def->expand) return def->expand(*this, inputs, attrs);
    Node n{.op = op_name, .def = def, .attrs = std::move(attrs), .loc = current_loc_};
    for (const Value & v : inputs) {
        DL_ASSERT(v.graph == this && v.valid());
        n.inputs.push_back(v.id);
    }
    infer_node(n);
    return {this, append(std::move(n))};
}

Value Graph::output(const std::string & name) {
    auto it = outputs_.find(name);
    DL_ASSERT(it != outputs_.end());
    return {this, it->second};
}

std::vector<int> Graph::params() const {
    std::vector<int> out;
    for (const Node & n : nodes_)
        if (n.op == "param" && !n.dead) out.push_back(n.id);
    return out;
}

static Value binary(const char * op, Value a, Value b) { return a.graph->op(op, {a, b}); }

Value operator+(Value a, Value b) { return binary("add", a, b); }
Value operator-(Value a, Value b) { return binary("sub", a, b); }
Value operator*(Value a, Value b) { return binary("mul", a, b); }
Value operator/(Value a, Value b) { return binary("div", a, b); }
Value operator-(Value a) { return a.graph->op("neg", {a}); }
Value operator+(Value a, float b) { return a + a.graph->constant(b); }
Value operator-(Value a, float b) { return a - a.graph->constant(b); }
Value operator*(Value a, float b) { return a * a.graph->constant(b); }
Value operator/(Value a, float b) { return a / a.graph->constant(b); }
Value operator+(float a, Value b) { return b.graph->constant(a) + b; }
Value operator-(float a, Value b) { return b.graph->constant(a) - b; }
Value operator*(float a, Value b) { return b.graph->constant(a) * b; }
Value operator/(float a, Value b) { return b.graph->constant(a) / b; }

}  // namespace dl
