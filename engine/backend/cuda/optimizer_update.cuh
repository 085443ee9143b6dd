// The fused optimizer update's frame (optimizer.cu launches it): how parameters are sliced into blocks, the
// scalars the finish kernel leaves, and the update kernel, which each optimizer instantiates with its own
// arithmetic in engine/optim/<type>.cu and registers for its OptimizerType:
//
//   struct AdagradUpdate {
//       __device__ static void apply(const OptimizerRule & rule, const Scalars & s, const OptimizerSlice & x,
//                                    int64_t i, float g) { ... }
//   };
//   DL_REGISTER_CUDA_OPTIMIZER(OptimizerType::adagrad, AdagradUpdate);
#pragma once

#include <cuda_bf16.h>

#include "backend/cuda/optimizer_kernels.h"

namespace dl::cuda {

constexpr int kSliceTensors = 48;
constexpr int kThreads = 256;
constexpr int64_t kBlockElems = 8192;  // elements one block of the squares and update kernels covers

struct Slice {
    OptimizerSlice t[kSliceTensors];
    int64_t first_block[kSliceTensors + 1];  // block offsets of each tensor, relative to the slice
    int count;
    int64_t partial_offset;  // where this slice's blocks write in partial[]
};

struct Scalars {  // in scratch, after the partials
    double norm;
    float clip_scale;
    float lr;
    float lr_t;  // Adam's bias-corrected rate
    int finite;
};

inline int64_t blocks_of(int64_t n) { return (n + kBlockElems - 1) / kBlockElems; }

__device__ inline int tensor_of(const Slice & s, int64_t block) {
    int lo = 0, hi = s.count - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (s.first_block[mid] <= block)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

// Every element of the slice's tensors: the gradient prepared as on the host (optim/update_math.h), then
// Update::apply; nothing changes when the norm is not finite. The parameter's bfloat16 copy follows it.
template <typename Update>
__global__ void update_kernel(Slice s, OptimizerRule rule, const Scalars * scalars) {
    const int64_t block = blockIdx.x;
    const int t = tensor_of(s, block);
    const OptimizerSlice & x = s.t[t];
    const int64_t begin = (block - s.first_block[t]) * kBlockElems;
    const int64_t end = begin + kBlockElems < x.size ? begin + kBlockElems : x.size;
    const float scale = scalars->clip_scale, wd = rule.weight_decay;
    float * p = x.param;
    auto * p16 = static_cast<__nv_bfloat16 *>(x.param_bf16);
    if (!scalars->finite) {  // unchanged; the copy is made current all the same
        if (p16)
            for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
                p16[i] = __float2bfloat16_rn(p[i]);
        return;
    }
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
        float g = x.grad[i] * scale;
        if (rule.clip_value > 0) g = fminf(fmaxf(g, -rule.clip_value), rule.clip_value);
        if (wd > 0 && !rule.decoupled_weight_decay) g += wd * p[i];
        Update::apply(rule, *scalars, x, i, g);
        if (p16) p16[i] = __float2bfloat16_rn(p[i]);
    }
}

using UpdateLauncher = void (*)(const Slice &, unsigned blocks, const OptimizerRule &, const Scalars *,
                                cudaStream_t);

template <typename Update>
void launch_update(const Slice & s, unsigned blocks, const OptimizerRule & rule, const Scalars * scalars,
                   cudaStream_t stream) {
    update_kernel<Update><<<blocks, kThreads, 0, stream>>>(s, rule, scalars);
}

bool register_update(OptimizerType type, UpdateLauncher launcher);
UpdateLauncher registered_update(OptimizerType type);  // null when none is (has_optimizer_update)

}  // namespace dl::cuda

#define DL_REGISTER_CUDA_OPTIMIZER(type, Update)                                \
    static const bool DL_CUDA_CONCAT(dl_registered_cuda_optimizer_, __LINE__) = \
        ::dl::cuda::register_update(type, &::dl::cuda::launch_update<Update>)
