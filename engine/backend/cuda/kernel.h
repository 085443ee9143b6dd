// Note [CUDA kernels]: what an op's CUDA kernel (engine/ops/<op>.cu, compiled into the plugin only) sees of
// its node, and how it registers itself beside the op's CPU kernel:
//
//   // engine/ops/tanh.cu
//   void tanh_cuda(const cuda::Args & a) { cuda::unary(a, [] __device__(float x) { return tanhf(x); }); }
//   DL_REGISTER_CUDA_KERNEL("tanh", tanh_cuda);
//
// The table is joined to the op registry by name (CpuBackend never refers to it). Kernels are issued on the
// backend's stream and may be recorded into a CUDA graph (Backend::run_step): they must not synchronise,
// allocate or read host memory, and what changes per step (seed, step, learning rate) comes from `a.step`, in
// device memory. This header has no Eigen and no engine types, so nvcc compiles only CUDA code.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <string>

namespace dl::cuda {

inline constexpr int kMaxRank = 8;
inline constexpr int kMaxInputs = 8;

enum class ElemType : uint8_t { f32, i32, i64 };  // dl::DType's order

// train.precision: how the GEMMs compute: float32, TF32 tensor cores on the float32 operands, or bfloat16
// copies of the operands (Note [bf16 operands] in cuda_backend.cpp) on the tensor cores; float32 accumulation
// and float32 tensors everywhere.
enum class Precision : uint8_t { f32, tf32, bf16 };

struct Tensor {
    void * data = nullptr;
    ElemType type = ElemType::f32;
    int rank = 0;
    int64_t dims[kMaxRank] = {};
    int64_t numel = 1;

    float * f32() const { return static_cast<float *>(data); }
    int64_t dim(int i) const { return dims[i < 0 ? i + rank : i]; }
    int64_t rows() const { return rank == 0 ? 1 : numel / dims[rank - 1]; }  // all axes but the last
    int64_t cols() const { return rank == 0 ? 1 : dims[rank - 1]; }
    bool same_shape(const Tensor & o) const {
        if (rank != o.rank) return false;
        for (int d = 0; d < rank; ++d)
            if (dims[d] != o.dims[d]) return false;
        return true;
    }
};

// Per-step values in device memory (Backend::run_step's StepValues).
struct StepScalars {
    uint64_t seed;
    uint64_t step;
    double lr;
    double t;
};

struct Args {
    Tensor in[kMaxInputs];
    int num_inputs = 0;
    Tensor out;
    cudaStream_t stream = nullptr;
    cublasHandle_t cublas = nullptr;
    cublasLtHandle_t cublas_lt = nullptr;
    void * workspace = nullptr;  // cuBLAS' and cuBLASLt's, for the GEMMs issued on `stream`
    size_t workspace_bytes = 0;
    const StepScalars * step = nullptr;    // device memory
    const void * node = nullptr;           // the dl::Node, read through attr_* below
    void * backend = nullptr;              // the CudaBackend, for scratch()
    uint64_t host_seed = 0;                // the values of the step being issued (for host-side set-up only)
    Precision precision = Precision::f32;  // train.precision, for the GEMMs
};

// Device scratch memory of at least `bytes` for the kernel being issued (a patch matrix), valid until the
// next kernel asks: kernels run one after another on the stream. It grows on a step's first, eager run, never
// while a step is recorded.
void * scratch(const Args & a, size_t bytes);

// train.precision bf16: the n float32 values at x as bfloat16, for a GEMM to read (Note [bf16 operands]):
// converted at the first use, then reused while x is unchanged (a parameter's copy the optimizer keeps
// current).
const void * bf16_operand(const Args & a, const float * x, int64_t n);
// y[0..n) = bfloat16(x[0..n)), rounded to nearest even, on `stream`.
void convert_to_bf16(const float * x, void * y, int64_t n, cudaStream_t stream);

// The node's attributes (read on the host when the kernel is issued).
int64_t attr_int(const Args & a, const char * key, int64_t fallback = 0);
double attr_float(const Args & a, const char * key, double fallback = 0.0);
bool attr_is(const Args & a, const char * key, const char * value, const char * fallback = "");
// An integer-list attribute into out[0..cap): its length, or -1 when the node has none.
int attr_ints(const Args & a, const char * key, int64_t * out, int cap);

using Kernel = void (*)(const Args &);
bool register_kernel(const char * op, Kernel kernel);
Kernel find_kernel(const char * op);
std::map<std::string, Kernel> & registered_kernels();

// After a launch: turns a launch error into an exception naming the op (the backend reports it).
void check_launch(const char * op);

inline unsigned blocks_for(int64_t n, int threads = 256) {
    const int64_t b = (n + threads - 1) / threads;
    return static_cast<unsigned>(b < 1 ? 1 : (b > 65535 * 16 ? 65535 * 16 : b));
}

}  // namespace dl::cuda

#define DL_CUDA_CONCAT_INNER(a, b) a##b
#define DL_CUDA_CONCAT(a, b) DL_CUDA_CONCAT_INNER(a, b)
#define DL_REGISTER_CUDA_KERNEL(op, fn) \
    static const bool DL_CUDA_CONCAT(dl_cuda_kernel_, __LINE__) = ::dl::cuda::register_kernel(op, fn)
