// sparse_categorical_crossentropy on the GPU: mean over rows of logsumexp(z) - z[label], a block per 64 rows
// (each warp takes rows in turn; the row losses are added in double in a fixed order; the CPU kernel is in
// sparse_categorical_crossentropy.cpp). Labels were checked when the data was read; one out of range here
// counts as a zero logit rather than reading outside the row.
#include "backend/cuda/elementwise.cuh"

namespace dl {
namespace {
constexpr int kThreads = 512;
constexpr int64_t kRowsPerBlock = 64;  // 4 rows for each of a block's 16 warps

// Block b: the sum of the row losses of rows [b * kRowsPerBlock, ...), into partial[b] (or, when one block
// covers every row, the mean into out).
__global__ void sparse_ce_kernel(const float * __restrict__ z, const void * labels, cuda::ElemType type,
                                 double * __restrict__ partial, float * __restrict__ out, int64_t rows,
                                 int64_t cols) {
    __shared__ double warp_totals[kThreads / 32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    const int64_t first = blockIdx.x * kRowsPerBlock;
    const int64_t end = first + kRowsPerBlock < rows ? first + kRowsPerBlock : rows;
    double total = 0;
    for (int64_t r = first + warp; r < end; r += warps) {
        const float * zr = z + r * cols;
        float m = -INFINITY;
        for (int64_t c = lane; c < cols; c += 32) m = fmaxf(m, zr[c]);
        for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
        float s = 0;
        for (int64_t c = lane; c < cols; c += 32) s += expf(zr[c] - m);
        for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
        if (lane == 0) {
            const int64_t label = cuda::label_at(labels, type, r);
            const float picked = label >= 0 && label < cols ? zr[label] : 0.0f;
            total += static_cast<double>(m) + log(static_cast<double>(s)) - picked;
        }
    }
    if (lane == 0) warp_totals[warp] = total;
    __syncthreads();
    if (threadIdx.x != 0) return;
    double sum = 0;
    for (int w = 0; w < warps; ++w) sum += warp_totals[w];
    if (gridDim.x == 1)
        out[0] = static_cast<float>(sum / static_cast<double>(rows > 1 ? rows : 1));
    else
        partial[blockIdx.x] = sum;
}

// The blocks' sums in block order, then the mean.
__global__ void sparse_ce_mean_kernel(const double * __restrict__ partial, int64_t blocks, float * out,
                                      int64_t rows) {
    double sum = 0;
    for (int64_t b = 0; b < blocks; ++b) sum += partial[b];
    out[0] = static_cast<float>(sum / static_cast<double>(rows > 1 ? rows : 1));
}

void sparse_categorical_crossentropy_cuda(const cuda::Args & a) {
    const cuda::Tensor & z = a.in[0];
    const int64_t rows = z.dims[0];
    const int64_t blocks = rows > kRowsPerBlock ? (rows + kRowsPerBlock - 1) / kRowsPerBlock : 1;
    double * partial =
        blocks > 1 ? static_cast<double *>(cuda::scratch(a, static_cast<size_t>(blocks) * 8)) : nullptr;
    sparse_ce_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, a.stream>>>(
        z.f32(), a.in[1].data, a.in[1].type, partial, a.out.f32(), rows, z.dims[1]);
    if (blocks > 1) sparse_ce_mean_kernel<<<1, 1, 0, a.stream>>>(partial, blocks, a.out.f32(), rows);
}
}  // namespace
DL_REGISTER_CUDA_KERNEL("sparse_categorical_crossentropy", sparse_categorical_crossentropy_cuda);
}  // namespace dl
