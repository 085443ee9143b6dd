// cuDNN's convolutions, opened with dlopen (cudnn_conv.h). Uses cuDNN's legacy convolution API, which cuDNN 9
// still ships; the header is only for its types.
#include "backend/cuda/cudnn_conv.h"

#include <cudnn.h>
#include <dlfcn.h>

#include <map>
#include <mutex>
#include <tuple>

#pragma GCC diagnostic ignored \
    "-Wdeprecated-declarations"  // the legacy API: the one that takes NHWC as it is

namespace dl::cuda {

namespace {

// The entry points, resolved once; `ok` false when libcudnn is not there or lacks one.
#define DL_CUDNN_FUNCTIONS(X)                         \
    X(cudnnCreate)                                    \
    X(cudnnSetStream)                                 \
    X(cudnnCreateTensorDescriptor)                    \
    X(cudnnSetTensor4dDescriptor)                     \
    X(cudnnDestroyTensorDescriptor)                   \
    X(cudnnCreateFilterDescriptor)                    \
    X(cudnnSetFilter4dDescriptor)                     \
    X(cudnnDestroyFilterDescriptor)                   \
    X(cudnnCreateConvolutionDescriptor)               \
    X(cudnnSetConvolution2dDescriptor)                \
    X(cudnnSetConvolutionGroupCount)                  \
    X(cudnnSetConvolutionMathType)                    \
    X(cudnnDestroyConvolutionDescriptor)              \
    X(cudnnGetConvolutionForwardAlgorithm_v7)         \
    X(cudnnGetConvolutionForwardWorkspaceSize)        \
    X(cudnnConvolutionForward)                        \
    X(cudnnGetConvolutionBackwardDataAlgorithm_v7)    \
    X(cudnnGetConvolutionBackwardDataWorkspaceSize)   \
    X(cudnnConvolutionBackwardData)                   \
    X(cudnnGetConvolutionBackwardFilterAlgorithm_v7)  \
    X(cudnnGetConvolutionBackwardFilterWorkspaceSize) \
    X(cudnnConvolutionBackwardFilter)

struct Cudnn {
    bool ok = false;
#define DL_CUDNN_POINTER(name) decltype(&::name) name = nullptr;
    DL_CUDNN_FUNCTIONS(DL_CUDNN_POINTER)
#undef DL_CUDNN_POINTER
    cudnnHandle_t handle = nullptr;
};

Cudnn & cudnn() {
    static Cudnn c = [] {
        Cudnn l;
        void * lib = ::dlopen("libcudnn.so.9", RTLD_NOW | RTLD_LOCAL);
        if (!lib) return l;
        bool all = true;
#define DL_CUDNN_LOAD(name)                                            \
    l.name = reinterpret_cast<decltype(&::name)>(::dlsym(lib, #name)); \
    all = all && l.name != nullptr;
        DL_CUDNN_FUNCTIONS(DL_CUDNN_LOAD)
#undef DL_CUDNN_LOAD
        l.ok = all && l.cudnnCreate(&l.handle) == CUDNN_STATUS_SUCCESS;
        return l;
    }();
    return c;
}

// cuDNN pads both sides alike; TensorFlow's "same" puts the odd pixel after. Only the even case is
// expressible.
bool symmetric(const ConvGeometry & g) {
    const int64_t bottom = (g.oh - 1) * g.sh + (g.kh - 1) * g.dh + 1 - g.h - g.pad_top;
    const int64_t right = (g.ow - 1) * g.sw + (g.kw - 1) * g.dw + 1 - g.w - g.pad_left;
    return bottom == g.pad_top && right == g.pad_left;
}

struct Descriptors {
    cudnnTensorDescriptor_t x = nullptr, y = nullptr;
    cudnnFilterDescriptor_t w = nullptr;
    cudnnConvolutionDescriptor_t conv = nullptr;
    explicit Descriptors(const ConvGeometry & g, Precision precision) {
        Cudnn & c = cudnn();
        c.cudnnCreateTensorDescriptor(&x);
        c.cudnnCreateTensorDescriptor(&y);
        c.cudnnCreateFilterDescriptor(&w);
        c.cudnnCreateConvolutionDescriptor(&conv);
        c.cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, static_cast<int>(g.n),
                                     static_cast<int>(g.c), static_cast<int>(g.h), static_cast<int>(g.w));
        c.cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, static_cast<int>(g.n),
                                     static_cast<int>(g.f), static_cast<int>(g.oh), static_cast<int>(g.ow));
        c.cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, static_cast<int>(g.f),
                                     static_cast<int>(g.cg()), static_cast<int>(g.kh),
                                     static_cast<int>(g.kw));
        c.cudnnSetConvolution2dDescriptor(conv, static_cast<int>(g.pad_top), static_cast<int>(g.pad_left),
                                          static_cast<int>(g.sh), static_cast<int>(g.sw),
                                          static_cast<int>(g.dh), static_cast<int>(g.dw),
                                          CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT);
        c.cudnnSetConvolutionGroupCount(conv, static_cast<int>(g.groups));
        // float32 means float32: tensor cores (TF32) only when train.precision allows them.
        c.cudnnSetConvolutionMathType(conv,
                                      precision == Precision::f32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH);
    }
    ~Descriptors() {
        Cudnn & c = cudnn();
        c.cudnnDestroyConvolutionDescriptor(conv);
        c.cudnnDestroyFilterDescriptor(w);
        c.cudnnDestroyTensorDescriptor(y);
        c.cudnnDestroyTensorDescriptor(x);
    }
    Descriptors(const Descriptors &) = delete;
};

// One pass through cuDNN into `out`; false when cuDNN refuses it.
bool run_cudnn(const Args & a, ConvPass pass, const ConvGeometry & g, const float * in0, const float * in1,
               float * out) {
    Cudnn & c = cudnn();
    Descriptors d(g, a.precision);
    if (c.cudnnSetStream(c.handle, a.stream) != CUDNN_STATUS_SUCCESS) return false;
    const size_t filter_bytes = static_cast<size_t>(g.patch() * g.f) * sizeof(float);
    const float one = 1.0f, zero = 0.0f;
    int found = 0;
    size_t ws = 0;
    if (pass == ConvPass::forward) {  // in0 = x, in1 = w (RSCK), out = y
        cudnnConvolutionFwdAlgoPerf_t perf{};
        if (c.cudnnGetConvolutionForwardAlgorithm_v7(c.handle, d.x, d.w, d.conv, d.y, 1, &found, &perf) !=
                CUDNN_STATUS_SUCCESS ||
            found < 1 ||
            c.cudnnGetConvolutionForwardWorkspaceSize(c.handle, d.x, d.w, d.conv, d.y, perf.algo, &ws) !=
                CUDNN_STATUS_SUCCESS)
            return false;
        auto * krsc = static_cast<float *>(scratch(a, filter_bytes + ws));
        rsck_to_krsc(a, g, in1, krsc);
        return c.cudnnConvolutionForward(c.handle, &one, d.x, in0, d.w, krsc, d.conv, perf.algo,
                                         reinterpret_cast<char *>(krsc) + filter_bytes, ws, &zero, d.y,
                                         out) == CUDNN_STATUS_SUCCESS;
    }
    if (pass == ConvPass::backward_data) {  // in0 = dy, in1 = w (RSCK), out = dx
        cudnnConvolutionBwdDataAlgoPerf_t perf{};
        if (c.cudnnGetConvolutionBackwardDataAlgorithm_v7(c.handle, d.w, d.y, d.conv, d.x, 1, &found,
                                                          &perf) != CUDNN_STATUS_SUCCESS ||
            found < 1 ||
            c.cudnnGetConvolutionBackwardDataWorkspaceSize(c.handle, d.w, d.y, d.conv, d.x, perf.algo, &ws) !=
                CUDNN_STATUS_SUCCESS)
            return false;
        auto * krsc = static_cast<float *>(scratch(a, filter_bytes + ws));
        rsck_to_krsc(a, g, in1, krsc);
        return c.cudnnConvolutionBackwardData(c.handle, &one, d.w, krsc, d.y, in0, d.conv, perf.algo,
                                              reinterpret_cast<char *>(krsc) + filter_bytes, ws, &zero, d.x,
                                              out) == CUDNN_STATUS_SUCCESS;
    }
    // backward_filter: in0 = x, in1 = dy, out = dw (RSCK)
    cudnnConvolutionBwdFilterAlgoPerf_t perf{};
    if (c.cudnnGetConvolutionBackwardFilterAlgorithm_v7(c.handle, d.x, d.y, d.conv, d.w, 1, &found, &perf) !=
            CUDNN_STATUS_SUCCESS ||
        found < 1 ||
        c.cudnnGetConvolutionBackwardFilterWorkspaceSize(c.handle, d.x, d.y, d.conv, d.w, perf.algo, &ws) !=
            CUDNN_STATUS_SUCCESS)
        return false;
    auto * krsc = static_cast<float *>(scratch(a, filter_bytes + ws));
    if (c.cudnnConvolutionBackwardFilter(c.handle, &one, d.x, in0, d.y, in1, d.conv, perf.algo,
                                         reinterpret_cast<char *>(krsc) + filter_bytes, ws, &zero, d.w,
                                         krsc) != CUDNN_STATUS_SUCCESS)
        return false;
    krsc_to_rsck(a, g, krsc, out);
    return true;
}

using ConvKey = std::tuple<int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                           int64_t, int64_t, int64_t, int64_t, int64_t, int>;

ConvKey key_of(ConvPass pass, const ConvGeometry & g, Precision p) {
    return {static_cast<int>(pass),
            g.n,
            g.h,
            g.w,
            g.c,
            g.kh,
            g.kw,
            g.f,
            g.sh,
            g.sw,
            g.dh,
            g.dw,
            g.pad_top,
            g.groups,
            static_cast<int>(p)};
}

// Milliseconds `work` takes on the stream.
template <typename F>
float time_on_stream(cudaStream_t stream, F && work) {
    cudaEvent_t start, stop;
    cudaEventCreate(&start);
    cudaEventCreate(&stop);
    cudaEventRecord(start, stream);
    work();
    cudaEventRecord(stop, stream);
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    return ms;
}

}  // namespace

bool cudnn_conv(const Args & a, ConvPass pass, const ConvGeometry & g, const float * in0, const float * in1,
                float * out,
                void (*im2col)(const Args &, const ConvGeometry &, const float *, const float *, float *)) {
    static std::map<ConvKey, bool> use_cudnn;  // the plugin issues from one thread at a time
    const ConvKey key = key_of(pass, g, a.precision);
    if (auto it = use_cudnn.find(key); it != use_cudnn.end())
        return it->second && run_cudnn(a, pass, g, in0, in1, out);
    cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
    cudaStreamIsCapturing(a.stream, &capturing);
    if (capturing != cudaStreamCaptureStatusNone || !cudnn().ok || !symmetric(g)) return false;
    // Both ways, twice each (the first of each warms up); the faster is kept. im2col runs last, so its result
    // is the one in `out` now, whichever wins: both compute the same convolution.
    bool cudnn_ran = true;
    float cudnn_ms = 0;
    for (int i = 0; i < 2 && cudnn_ran; ++i)
        cudnn_ms = time_on_stream(a.stream, [&] { cudnn_ran = run_cudnn(a, pass, g, in0, in1, out); });
    cudaGetLastError();  // a call cuDNN refused leaves no error behind for the next launch check
    float im2col_ms = 0;
    for (int i = 0; i < 2; ++i) im2col_ms = time_on_stream(a.stream, [&] { im2col(a, g, in0, in1, out); });
    use_cudnn[key] = cudnn_ran && cudnn_ms < im2col_ms;
    return true;
}

}  // namespace dl::cuda
