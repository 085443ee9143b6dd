// Reverse-mode autodiff that appends the backward pass to the same graph, as graph ops.
//   auto grads = append_backward(g, loss, g.params());   // param node id -> gradient node id
// Each op's rule returns one gradient per input at the output's shape; broadcasting is undone here, once,
// with sum_to; fan-out is accumulated with add, in a fixed order. Ops without a rule stop the gradient.
#pragma once

#include <map>
#include <vector>

#include "graph/graph.h"

namespace dl {

std::map<int, int> append_backward(Graph & g, Value loss, const std::vector<int> & wrt);

}  // namespace dl
