// Launch helpers shared by the ops' CUDA kernels (the counterparts of ops/kernel_util.h):
//   cuda::unary(a, [] __device__(float x) { return x > 0.0f ? x : 0.0f; });
//   cuda::binary(a, [] __device__(float x, float y) { return x + y; });   // numpy broadcasting
//   cuda::row_reduce<...>: one block per row of a [rows, cols] view (softmax, losses)
#pragma once

#include "backend/cuda/kernel.h"

namespace dl::cuda {

template <typename F>
__global__ void unary_kernel(const float * __restrict__ x, float * __restrict__ y, int64_t n, F f) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{blockDim.x} * gridDim.x)
        y[i] = f(x[i]);
}

template <typename F>
void unary(const Args & a, F f) {
    const int64_t n = a.out.numel;
    if (n == 0) return;
    unary_kernel<<<blocks_for(n), 256, 0, a.stream>>>(a.in[0].f32(), a.out.f32(), n, f);
}

// Strides of each input aligned right against the output, 0 on broadcast axes.
struct Broadcast {
    int rank = 0;
    int64_t dims[kMaxRank] = {};
    int64_t stride_a[kMaxRank] = {}, stride_b[kMaxRank] = {};
};

inline Broadcast broadcast_of(const Tensor & a, const Tensor & b, const Tensor & y) {
    Broadcast bc;
    bc.rank = y.rank;
    auto strides = [&](const Tensor & t, int64_t * out) {
        int64_t s = 1;
        for (int d = t.rank - 1; d >= 0; --d) {
            const int od = d + (y.rank - t.rank);
            out[od] = t.dims[d] == 1 ? 0 : s;
            s *= t.dims[d];
        }
    };
    for (int d = 0; d < y.rank; ++d) bc.dims[d] = y.dims[d];
    strides(a, bc.stride_a);
    strides(b, bc.stride_b);
    return bc;
}

// mode 0: same shapes; 1: b is a scalar; 2: a is a scalar; 3: b is a row of the last axis; 4: general.
template <typename F>
__global__ void binary_kernel(const float * __restrict__ a, const float * __restrict__ b,
                              float * __restrict__ y, int64_t n, int mode, int64_t cols, Broadcast bc, F f) {
    for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
         i += int64_t{blockDim.x} * gridDim.x) {
        switch (mode) {
            case 0:
                y[i] = f(a[i], b[i]);
                break;
            case 1:
                y[i] = f(a[i], b[0]);
                break;
            case 2:
                y[i] = f(a[0], b[i]);
                break;
            case 3:
                y[i] = f(a[i], b[i % cols]);
                break;
            default: {
                int64_t rem = i, ia = 0, ib = 0;
                for (int d = bc.rank - 1; d >= 0; --d) {
                    const int64_t idx = rem % bc.dims[d];
                    rem /= bc.dims[d];
                    ia += idx * bc.stride_a[d];
                    ib += idx * bc.stride_b[d];
                }
                y[i] = f(a[ia], b[ib]);
            }
        }
    }
}

template <typename F>
void binary(const Args & args, F f) {
    const Tensor &a = args.in[0], &b = args.in[1], &y = args.out;
    const int64_t n = y.numel;
    if (n == 0) return;
    int mode = 4;
    if (a.same_shape(y) && b.same_shape(y))
        mode = 0;
    else if (b.numel == 1 && a.same_shape(y))
        mode = 1;
    else if (a.numel == 1 && b.same_shape(y))
        mode = 2;
    else if (a.same_shape(y) && b.rank >= 1 && b.numel == y.cols() && b.dims[b.rank - 1] == b.numel)
        mode = 3;
    binary_kernel<<<blocks_for(n), 256, 0, args.stream>>>(a.f32(), b.f32(), y.f32(), n, mode, b.numel,
                                                          broadcast_of(a, b, y), f);
}

// Sum of a float over the block's threads (blockDim.x a multiple of 32, at most 1024); every thread gets it.
__device__ inline float block_sum(float v) {
    __shared__ float partial[32];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    const int warps = (blockDim.x + 31) >> 5;
    v = threadIdx.x < warps ? partial[threadIdx.x] : 0.0f;
    if (warp == 0)
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (threadIdx.x == 0) partial[0] = v;
    __syncthreads();
    return partial[0];
}

__device__ inline float block_max(float v) {
    __shared__ float partial[32];
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    const int warps = (blockDim.x + 31) >> 5;
    v = threadIdx.x < warps ? partial[threadIdx.x] : -INFINITY;
    if (warp == 0)
        for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    if (threadIdx.x == 0) partial[0] = v;
    __syncthreads();
    return partial[0];
}

// Threads per block for a row of `cols` values: a multiple of 32 up to 256.
inline int row_threads(int64_t cols) {
    int t = 32;
    while (t < 256 && t < cols) t *= 2;
    return t;
}

// The integer label at index i of an i32 or i64 tensor.
__device__ inline int64_t label_at(const void * data, ElemType type, int64_t i) {
    return type == ElemType::i64 ? static_cast<const int64_t *>(data)[i]
                                 : static_cast<const int32_t *>(data)[i];
}

}  // namespace dl::cuda
