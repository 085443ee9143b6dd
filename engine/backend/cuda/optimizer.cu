// The fused optimizer update: the formulas of optim/optimizer.cpp (Keras' conventions), over every parameter.
//   1. squares: each block sums the squares of its range of one gradient, in double, into partial[block];
//   2. finish: one block adds the partials in a fixed order (the norm is the same on every run), writes the
//   norm
//      and the clipping scale, and Adam's bias-corrected rate from the step's lr and t;
//   3. update: every element, unless the norm is not finite (then nothing changes, as on the host), and the
//      parameter's bfloat16 copy where it has one; the optimizer's arithmetic is its own engine/optim/<type>.cu
//      (optimizer_update.cuh).
// Tensors go in slices of at most kSliceTensors per launch, passed by value (no device table to keep
// current).
#include <cuda_bf16.h>

#include <cmath>
#include <vector>

#include "backend/cuda/optimizer_update.cuh"

namespace dl::cuda {

namespace {

__device__ double block_sum_double(double v) {
    __shared__ double partial[32];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = threadIdx.x < (blockDim.x >> 5) ? partial[threadIdx.x] : 0.0;
    if (warp == 0)
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;  // thread 0 holds the sum
}

__global__ void squares_kernel(Slice s, double * partial) {
    const int64_t block = blockIdx.x;
    const int t = tensor_of(s, block);
    const OptimizerSlice & x = s.t[t];
    const int64_t begin = (block - s.first_block[t]) * kBlockElems;
    const int64_t end = begin + kBlockElems < x.size ? begin + kBlockElems : x.size;
    double sum = 0;
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
        sum += static_cast<double>(x.grad[i]) * x.grad[i];
    sum = block_sum_double(sum);
    if (threadIdx.x == 0) partial[s.partial_offset + block] = sum;
}

__global__ void finish_kernel(const double * partial, int64_t blocks, Scalars * out, float * norm_out,
                              OptimizerRule rule, const StepScalars * step) {
    double sum = 0;
    for (int64_t i = threadIdx.x; i < blocks; i += blockDim.x) sum += partial[i];
    sum = block_sum_double(sum);
    if (threadIdx.x != 0) return;
    const double norm = sqrt(sum);
    out->norm = norm;
    out->finite = isfinite(norm) ? 1 : 0;
    *norm_out = static_cast<float>(norm);
    out->clip_scale = rule.clip_global_norm > 0 && norm > rule.clip_global_norm
                          ? static_cast<float>(rule.clip_global_norm / norm)
                          : 1.0f;
    const double lr = step->lr, t = step->t;
    out->lr = static_cast<float>(lr);
    out->lr_t = static_cast<float>(lr * sqrt(1.0 - pow(static_cast<double>(rule.beta_2), t)) /
                                   (1.0 - pow(static_cast<double>(rule.beta_1), t)));
}

// The slices of `tensors`, with their partial-sum offsets; returns the total number of blocks.
int64_t make_slices(const OptimizerSlice * tensors, int count, Slice * slices, int & slice_count) {
    int64_t total = 0;
    slice_count = 0;
    for (int first = 0; first < count; first += kSliceTensors) {
        Slice & s = slices[slice_count++];
        s.count = count - first < kSliceTensors ? count - first : kSliceTensors;
        s.partial_offset = total;
        int64_t blocks = 0;
        for (int i = 0; i < s.count; ++i) {
            s.t[i] = tensors[first + i];
            s.first_block[i] = blocks;
            blocks += blocks_of(tensors[first + i].size);
        }
        s.first_block[s.count] = blocks;
        total += blocks;
    }
    return total;
}

UpdateLauncher & launcher_of(OptimizerType type) {
    static UpdateLauncher launchers[kOptimizerTypes] = {};  // function-local: registrars may run first
    return launchers[static_cast<int>(type)];
}

}  // namespace

bool register_update(OptimizerType type, UpdateLauncher launcher) {
    launcher_of(type) = launcher;
    return true;
}

UpdateLauncher registered_update(OptimizerType type) { return launcher_of(type); }

bool has_optimizer_update(OptimizerType type) { return launcher_of(type) != nullptr; }

size_t optimizer_scratch_bytes(const OptimizerSlice * tensors, int count) {
    int64_t blocks = 0;
    for (int i = 0; i < count; ++i) blocks += blocks_of(tensors[i].size);
    return static_cast<size_t>(blocks) * sizeof(double) + sizeof(Scalars) + 16;
}

void launch_optimizer(const OptimizerRule & rule, const OptimizerSlice * tensors, int count, float * norm_out,
                      void * scratch, const StepScalars * step, cudaStream_t stream) {
    const int max_slices = (count + kSliceTensors - 1) / kSliceTensors;
    // Grown once: a step issued without recording (the first, or DLCTL_CUDA_GRAPHS=0) allocates nothing
    // after.
    static std::vector<Slice> storage;
    if (storage.size() < static_cast<size_t>(max_slices > 0 ? max_slices : 1))
        storage.resize(static_cast<size_t>(max_slices > 0 ? max_slices : 1));
    Slice * slices = storage.data();
    int slice_count = 0;
    const int64_t total = make_slices(tensors, count, slices, slice_count);
    auto * partial = static_cast<double *>(scratch);
    auto * scalars = reinterpret_cast<Scalars *>(partial + total + (total % 2));  // 16-byte aligned
    for (int i = 0; i < slice_count; ++i) {
        const int64_t blocks = slices[i].first_block[slices[i].count];
        if (blocks > 0)
            squares_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(slices[i], partial);
    }
    finish_kernel<<<1, 1024, 0, stream>>>(partial, total, scalars, norm_out, rule, step);
    const UpdateLauncher update = registered_update(rule.type);
    for (int i = 0; i < slice_count; ++i) {
        const int64_t blocks = slices[i].first_block[slices[i].count];
        if (blocks > 0) update(slices[i], static_cast<unsigned>(blocks), rule, scalars, stream);
    }
    check_launch("the optimizer update");
}

}  // namespace dl::cuda
