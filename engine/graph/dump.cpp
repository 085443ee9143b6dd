#include <fmt/format.h>

#include "graph/graph.h"

namespace dl {

static std::string describe(const Node & n) {
    std::string s = fmt::format("%{} = {}", n.id, n.op);
    if (!n.name.empty()) s += fmt::format(" \"{}\"", n.name);
    std::string args;
    for (int in : n.inputs) args += (args.empty() ? "%" : ", %") + std::to_string(in);
    if (!n.inputs.empty()) s += "(" + args + ")";
    const std::string attrs = n.attrs.to_string();
    if (!attrs.empty()) s += " {" + attrs + "}";
    if (n.op == "const" && n.value && n.value->numel() == 1) s += fmt::format(" <{}>", n.value->f32()[0]);
    return s;
}

std::string Graph::dump() const {
    std::string out;
    for (const Node & n : nodes_) {
        if (n.dead) continue;
        std::string line = fmt::format("{:<60} : {}{}", describe(n), dtype_name(n.dtype), to_string(n.shape));
        if (n.loc.known()) line += fmt::format("  @{}:{}", n.loc.file, n.loc.line);
        out += line + "\n";
    }
    for (auto & [name, id] : outputs_) out += fmt::format("output {} = %{}\n", name, id);
    return out;
}

std::string Graph::dump_dot() const {
    std::string out =
        "digraph dlctl {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n";
    for (const Node & n : nodes_) {
        if (n.dead) continue;
        const char * style = n.op == "param"   ? ", style=filled, fillcolor=\"#dbe9ff\""
                             : n.op == "input" ? ", style=filled, fillcolor=\"#e3f5e1\""
                             : n.op == "const" ? ", style=dashed"
                                               : "";
        std::string label = n.op;
        if (!n.name.empty()) label += "\\n" + n.name;
        out += fmt::format("  n{} [label=\"{}\\n{}{}\"{}];\n", n.id, label, dtype_name(n.dtype),
                           to_string(n.shape), style);
        for (int in : n.inputs) out += fmt::format("  n{} -> n{};\n", in, n.id);
    }
    for (auto & [name, id] : outputs_)
        out +=
            fmt::format("  \"out:{0}\" [label=\"{0}\", shape=ellipse];\n  n{1} -> \"out:{0}\";\n", name, id);
    return out + "}\n";
}

}  // namespace dl
