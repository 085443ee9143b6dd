// fused_dense's GEMM with the bias and the ReLU in cuBLASLt's epilogue (matmul.cuh). Row-major y[m, n] =
// x[m, k] w[k, n] is column-major y^T[n, m] = w^T[n, k] x^T[k, m] on the same buffers, so cuBLASLt's A is w,
// its B is x, and the bias runs along D's n rows. Each shape's descriptors and algorithm are looked up once:
// the heuristic query is host work that a replayed step never repeats anyway, but eager steps would.
#include <cublasLt.h>

#include <cstdint>
#include <map>
#include <tuple>

#include "backend/cuda/matmul.cuh"

namespace dl::cuda {

namespace {

// The largest power of two (up to 256) that the address is a multiple of: cuBLASLt's heuristic assumes 256
// unless told, and an algorithm picked for aligned pointers may not run on others.
uint32_t alignment_of(const void * p) {
    const auto v = reinterpret_cast<uintptr_t>(p);
    uint32_t a = 256;
    while (a > 1 && v % a != 0) a /= 2;
    return a;
}

struct Plan {
    bool ok = false;
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
    cublasLtMatmulAlgo_t algo{};
};

using PlanKey = std::tuple<cublasLtHandle_t, int64_t, int64_t, int64_t, int, bool, uint32_t, uint32_t,
                           uint32_t, uint32_t, size_t>;

Plan make_plan(const Args & args, int64_t m, int64_t n, int64_t k, bool relu, const uint32_t (&align)[4]) {
    Plan p;
    const bool bf16 = args.precision == Precision::bf16;
    const cudaDataType_t in_type = bf16 ? CUDA_R_16BF : CUDA_R_32F;
    const cublasComputeType_t compute =
        args.precision == Precision::tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    if (cublasLtMatmulDescCreate(&p.op, compute, CUDA_R_32F) != CUBLAS_STATUS_SUCCESS) return p;
    const cublasOperation_t no = CUBLAS_OP_N;
    const cublasLtEpilogue_t epilogue = relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS;
    const cudaDataType_t bias_type = CUDA_R_32F;
    cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &no, sizeof no);
    cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &no, sizeof no);
    cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue);
    cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof bias_type);
    if (cublasLtMatrixLayoutCreate(&p.a, in_type, static_cast<uint64_t>(n), static_cast<uint64_t>(k), n) !=
            CUBLAS_STATUS_SUCCESS ||
        cublasLtMatrixLayoutCreate(&p.b, in_type, static_cast<uint64_t>(k), static_cast<uint64_t>(m), k) !=
            CUBLAS_STATUS_SUCCESS ||
        cublasLtMatrixLayoutCreate(&p.d, CUDA_R_32F, static_cast<uint64_t>(n), static_cast<uint64_t>(m), n) !=
            CUBLAS_STATUS_SUCCESS)
        return p;
    cublasLtMatmulPreference_t pref = nullptr;
    if (cublasLtMatmulPreferenceCreate(&pref) != CUBLAS_STATUS_SUCCESS) return p;
    const size_t workspace = args.workspace_bytes;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace,
                                         sizeof workspace);
    const cublasLtMatmulPreferenceAttributes_t which[4] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    for (int i = 0; i < 4; ++i)
        cublasLtMatmulPreferenceSetAttribute(pref, which[i], &align[i], sizeof align[i]);
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    const cublasStatus_t s =
        cublasLtMatmulAlgoGetHeuristic(args.cublas_lt, p.op, p.a, p.b, p.d, p.d, pref, 1, &result, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (s == CUBLAS_STATUS_SUCCESS && found > 0 && result.state == CUBLAS_STATUS_SUCCESS) {
        p.algo = result.algo;
        p.ok = true;
    }
    return p;
}

}  // namespace

bool dense_with_epilogue(const Args & args, const Tensor & x, const Tensor & w, const float * bias,
                         const Tensor & y, bool relu) {
    if (!args.cublas_lt || !bias || x.rank != 2 || w.rank != 2) return false;
    const int64_t m = y.dims[0], n = y.dims[1], k = x.dims[1];
    if (m == 0 || n == 0 || k == 0) return false;
    const bool bf16 = args.precision == Precision::bf16;
    if (alignment_of(bias) < 16) return false;  // the bias epilogue reads it in vectors
    const void * a = bf16 ? bf16_operand(args, w.f32(), w.numel) : w.data;
    const void * b = bf16 ? bf16_operand(args, x.f32(), x.numel) : x.data;
    const uint32_t align[4] = {alignment_of(a), alignment_of(b), alignment_of(y.data), alignment_of(y.data)};
    static std::map<PlanKey, Plan> plans;  // for the plugin's lifetime: a recorded step may replay them
    const PlanKey key{args.cublas_lt,
                      m,
                      n,
                      k,
                      static_cast<int>(args.precision),
                      relu,
                      align[0],
                      align[1],
                      align[2],
                      align[3],
                      args.workspace_bytes};
    auto it = plans.find(key);
    if (it == plans.end()) it = plans.emplace(key, make_plan(args, m, n, k, relu, align)).first;
    const Plan & p = it->second;
    if (!p.ok) return false;
    cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias);
    const float one = 1.0f, zero = 0.0f;
    return cublasLtMatmul(args.cublas_lt, p.op, &one, a, p.a, b, p.b, &zero, y.data, p.d, y.data, p.d,
                          &p.algo, args.workspace, args.workspace_bytes,
                          args.stream) == CUBLAS_STATUS_SUCCESS;
}

}  // namespace dl::cuda
