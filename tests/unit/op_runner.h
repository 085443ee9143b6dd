// Runs one op through the real executor for the op tests: graph inputs holding `inputs`, one run, a copy of
// the output back. Shared by the kernel tests (test_ops_kernels, test_conv, test_pool_ops, test_norm_ops).
//   Tensor y = run_op("conv2d", {x, w}, attrs, {.threads = 2});
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "exec/executor.h"
#include "graph/op.h"

namespace dl::testing {

struct Run {
    int threads = 1;
    uint64_t seed = 1, step = 0;
};

inline Tensor run_op(const std::string & op, const std::vector<Tensor> & inputs, const Attrs & attrs = {},
                     Run run = {}) {
    Graph g;
    std::vector<Value> in;
    for (size_t i = 0; i < inputs.size(); ++i)
        in.push_back(g.input("in" + std::to_string(i), inputs[i].shape(), inputs[i].dtype()));
    g.mark_output("out", g.op(op, in, attrs));
    ParamStore params;
    ThreadPool pool(run.threads);
    CpuBackend cpu;
    Executor ex(g, params, pool, cpu);
    for (size_t i = 0; i < inputs.size(); ++i)
        std::memcpy(ex.input("in" + std::to_string(i)).data, inputs[i].view().data, inputs[i].bytes());
    ex.run(run.seed, run.step);
    const TensorView y = ex.output("out");
    Tensor out(y.shape, y.dtype);
    std::memcpy(out.view().data, y.data, y.bytes());
    return out;
}

}  // namespace dl::testing
