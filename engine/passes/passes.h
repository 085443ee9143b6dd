// Graph passes, each in its own file, run in order by the pass manager:
//   shape_inference -> constant_folding -> common_subexpression_elimination -> dead_node_elimination
//   -> fusion -> dead_node_elimination
//   run_passes(g);                          // all of them
//   run_passes(g, "fusion");                // stop after one (dlctl graph --after fusion)
//   MemoryPlan plan = plan_memory(g);       // every intermediate gets an offset in one arena, by liveness
#pragma once

#include <string>
#include <vector>

#include "graph/graph.h"

namespace dl {

struct Pass {
    const char * name;
    void (*run)(Graph &);
};

void infer_shapes(Graph & g);
void fold_constants(Graph & g);
void eliminate_common_subexpressions(Graph & g);
void eliminate_dead_nodes(Graph & g);
// matmul+bias+activation -> fused_dense, conv2d+bias+relu -> conv2d, mul(dy, step(y)) -> where_positive, and
// that mask folded into a max-pool gradient (fusion.cpp).
void fuse(Graph & g);

const std::vector<Pass> & standard_passes();
std::vector<std::string> pass_names();  // the names --after accepts, memory_plan included
// Runs the standard passes in order; with `stop_after`, stops after the first pass of that name.
void run_passes(Graph & g, const std::string & stop_after = {});

// Consumers of each live node (indexed by node id).
std::vector<std::vector<int>> consumers(const Graph & g);

struct MemoryPlan {
    static constexpr size_t kExternal = static_cast<size_t>(-1);
    std::vector<int> schedule;   // live non-leaf node ids in execution order
    std::vector<size_t> offset;  // per node id: byte offset in the arena, or kExternal
    size_t arena_bytes = 0;      // what the plan needs
    size_t unplanned_bytes = 0;  // what one buffer per intermediate would need
    size_t param_bytes = 0;      // parameters (outside the arena)
};

MemoryPlan plan_memory(const Graph & g);
std::string describe(const MemoryPlan & plan);

}  // namespace dl
