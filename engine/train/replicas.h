// Note [data parallelism]: the two seams where data-parallel training (MPI, NCCL: a later issue) plugs into
// the training loop. Every replica walks the same global batch order (a pure function of seed and epoch);
// `shard` says which rows of a global batch this replica computes, and `reduce_gradients` combines the
// replicas' gradients (each a mean over its own rows) into the global batch's mean before the optimizer step,
// so every replica applies the same update. One process is the replica set of size one, which changes
// nothing.
//   Replicas & r = local_replicas();
//   auto [b, e] = r.shard(begin, end);  ...run rows [b, e)...  r.reduce_gradients(grads, e - b, end - begin);
#pragma once

#include <cstdint>
#include <span>
#include <utility>

#include "core/tensor.h"

namespace dl {

class Replicas {
public:
    virtual ~Replicas() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;
    // Rows [begin, end) of the global batch [global_begin, global_end) for this replica: contiguous,
    // balanced.
    std::pair<int64_t, int64_t> shard(int64_t global_begin, int64_t global_end) const {
        const int64_t n = global_end - global_begin, r = rank(), s = size();
        return {global_begin + n * r / s, global_begin + n * (r + 1) / s};
    }
    virtual void reduce_gradients(std::span<TensorView> grads, int64_t local_rows, int64_t global_rows) = 0;
};

// This process alone.
class LocalReplicas final : public Replicas {
public:
    int rank() const override { return 0; }
    int size() const override { return 1; }
    void reduce_gradients(std::span<TensorView>, int64_t, int64_t) override {}
};

}  // namespace dl
