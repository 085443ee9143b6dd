// The CUDA backend (Note [CUDA kernels] in kernel.h): device memory from cudaMalloc, one stream, cuBLAS on
// it, the ops' registered kernels, and training steps recorded once as CUDA graphs and replayed.
//
// The plugin uses only the engine's headers, never its compiled code (it links with --no-undefined): whatever
// it reads of a node (attributes, shapes) goes through inline code, so it loads into any dlctl of the same
// build.
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/kernel.h"
#include "backend/cuda/optimizer_kernels.h"

namespace dl::cuda {

std::map<std::string, Kernel> & registered_kernels() {
    static std::map<std::string, Kernel> table;
    return table;
}

namespace {

const AttrValue * find_attr(const Args & a, const char * key) {
    const auto & all = static_cast<const Node *>(a.node)->attrs.all();
    auto it = all.find(key);
    return it == all.end() ? nullptr : &it->second;
}

}  // namespace

bool register_kernel(const char * op, Kernel kernel) {
    registered_kernels()[op] = kernel;
    return true;
}

Kernel find_kernel(const char * op) {
    auto it = registered_kernels().find(op);
    return it == registered_kernels().end() ? nullptr : it->second;
}

int64_t attr_int(const Args & a, const char * key, int64_t fallback) {
    const AttrValue * v = find_attr(a, key);
    if (!v) return fallback;
    if (const auto * i = std::get_if<int64_t>(v)) return *i;
    if (const auto * d = std::get_if<double>(v)) return static_cast<int64_t>(*d);
    return fallback;
}

double attr_float(const Args & a, const char * key, double fallback) {
    const AttrValue * v = find_attr(a, key);
    if (!v) return fallback;
    if (const auto * d = std::get_if<double>(v)) return *d;
    if (const auto * i = std::get_if<int64_t>(v)) return static_cast<double>(*i);
    return fallback;
}

bool attr_is(const Args & a, const char * key, const char * value, const char * fallback) {
    const AttrValue * v = find_attr(a, key);
    const auto * s = v ? std::get_if<std::string>(v) : nullptr;
    return std::strcmp(s ? s->c_str() : fallback, value) == 0;
}

int attr_ints(const Args & a, const char * key, int64_t * out, int cap) {
    const AttrValue * v = find_attr(a, key);
    const auto * list = v ? std::get_if<std::vector<int64_t>>(v) : nullptr;
    if (!list) return -1;
    const int n = static_cast<int>(list->size());
    for (int i = 0; i < n && i < cap; ++i) out[i] = (*list)[static_cast<size_t>(i)];
    return n;
}

void check_launch(const char * op) {
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess)
        throw Error(ExitCode::internal,
                    fmt::format("CUDA kernel of {} failed to launch: {}", op, cudaGetErrorString(e)));
}

namespace {

void check(cudaError_t e, const char * what) {
    if (e == cudaSuccess) return;
    if (e == cudaErrorMemoryAllocation)
        throw Error(ExitCode::unavailable, fmt::format("{}: the GPU is out of memory", what));
    throw Error(ExitCode::internal, fmt::format("{}: {}", what, cudaGetErrorString(e)));
}

void check_cublas(cublasStatus_t s, const char * what) {
    if (s != CUBLAS_STATUS_SUCCESS)
        throw Error(ExitCode::internal, fmt::format("{}: cuBLAS status {}", what, static_cast<int>(s)));
}

size_t element_size(DType t) { return t == DType::i64 ? 8 : 4; }

Tensor device_tensor(const TensorView & v) {
    Tensor t;
    t.data = v.data;
    t.type = static_cast<ElemType>(v.dtype);
    t.rank = static_cast<int>(v.shape.dims.size());
    if (t.rank > kMaxRank)
        throw Error(ExitCode::unavailable, fmt::format("CUDA kernels take up to {} axes", kMaxRank));
    for (int d = 0; d < t.rank; ++d) t.dims[d] = v.shape.dims[static_cast<size_t>(d)];
    t.numel = v.shape.numel();
    return t;
}

OptimizerType optimizer_type(UpdateKind kind) {
    switch (kind) {
        case UpdateKind::sgd:
            return OptimizerType::sgd;
        case UpdateKind::adam:
            return OptimizerType::adam;
        case UpdateKind::adamw:
            return OptimizerType::adamw;
        case UpdateKind::rmsprop:
            return OptimizerType::rmsprop;
        case UpdateKind::adagrad:
            return OptimizerType::adagrad;
    }
    throw Error(ExitCode::internal, "an update rule the CUDA backend does not know");
}

class CudaBackend final : public Backend {
public:
    explicit CudaBackend(int device) : device_(device) {
        check(cudaSetDevice(device), "selecting the CUDA device");
        check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "creating a CUDA stream");
        check(cudaStreamCreateWithFlags(&copy_stream_, cudaStreamNonBlocking), "creating the copy stream");
        check(cudaEventCreateWithFlags(&uploaded_, cudaEventDisableTiming), "creating an event");
        check_cublas(cublasCreate(&cublas_), "creating the cuBLAS handle");
        check_cublas(cublasSetStream(cublas_, stream_), "binding cuBLAS to the stream");
        // A workspace of our own, so cuBLAS never allocates inside a recorded step.
        check(cudaMalloc(&cublas_workspace_, kCublasWorkspace), "allocating cuBLAS' workspace");
        check_cublas(cublasSetWorkspace(cublas_, cublas_workspace_, kCublasWorkspace),
                     "setting cuBLAS' workspace");
        check_cublas(cublasLtCreate(&cublas_lt_), "creating the cuBLASLt handle");
        check(cudaMalloc(reinterpret_cast<void **>(&step_), sizeof(StepScalars)),
              "allocating the step values");
        const char * graphs = std::getenv("DLCTL_CUDA_GRAPHS");
        graphs_ = !(graphs && std::strcmp(graphs, "0") == 0);
    }

    ~CudaBackend() override {
        cudaStreamSynchronize(stream_);
        for (auto & [key, r] : recordings_)
            if (r.exec) cudaGraphExecDestroy(r.exec);
        for (auto & [count, p] : optimizer_scratch_) cudaFree(p);
        for (void * p : scratch_) cudaFree(p);
        for (void * p : bf16_buffers_) cudaFree(p);
        for (cudaEvent_t e : timing_events_) cudaEventDestroy(e);
        cudaFree(step_);
        cudaFree(cublas_workspace_);
        cublasLtDestroy(cublas_lt_);
        cublasDestroy(cublas_);
        cudaEventDestroy(uploaded_);
        cudaStreamDestroy(copy_stream_);
        cudaStreamDestroy(stream_);
    }

    const char * name() const override { return "cuda"; }
    bool supports(const Node & n) const override { return find_kernel(n.op.c_str()) != nullptr; }
    bool host_memory() const override { return false; }

    void run(KernelCtx & k) override {
        auto [it, fresh] = args_.try_emplace(&k);
        Args & a = it->second;
        if (fresh) {
            a.num_inputs = static_cast<int>(k.inputs.size());
            if (a.num_inputs > kMaxInputs)
                throw Error(ExitCode::unavailable,
                            fmt::format("{}: CUDA kernels take up to {} inputs", k.node.op, kMaxInputs));
            for (int i = 0; i < a.num_inputs; ++i) a.in[i] = device_tensor(k.inputs[static_cast<size_t>(i)]);
            a.out = device_tensor(k.output);
            a.stream = stream_;
            a.cublas = cublas_;
            a.cublas_lt = cublas_lt_;
            a.workspace = cublas_workspace_;
            a.workspace_bytes = kCublasWorkspace;
            a.step = step_;
            a.node = &k.node;
            a.backend = this;
            kernels_[&k] = find_kernel(k.node.op.c_str());
            if (!kernels_[&k])
                throw Error(ExitCode::unavailable,
                            fmt::format("the cuda backend has no kernel for '{}'", k.node.op));
        }
        a.host_seed = k.seed;
        a.precision = precision_;
        kernels_[&k](a);
        check_launch(k.node.op.c_str());
        wrote(a.out.data, static_cast<size_t>(a.out.numel) * element_size(k.output.dtype), stream_);
    }

    bool set_precision(const std::string & precision) override {
        precision_ = precision == "bf16"   ? Precision::bf16
                     : precision == "tf32" ? Precision::tf32
                                           : Precision::f32;
        return true;
    }

    void * allocate(size_t bytes) override {
        void * p = nullptr;
        const cudaError_t e = cudaMalloc(&p, bytes == 0 ? 256 : bytes);
        if (e == cudaErrorMemoryAllocation) {
            cudaGetLastError();
            size_t free_bytes = 0, total = 0;
            cudaMemGetInfo(&free_bytes, &total);
            throw Error(
                ExitCode::unavailable,
                fmt::format("the GPU (CUDA device {}) is out of memory: {:.1f} MiB asked for, {:.1f} of "
                            "{:.1f} MiB free; lower train.batch_size or use a smaller model",
                            device_, bytes / 1048576.0, free_bytes / 1048576.0, total / 1048576.0));
        }
        check(e, "allocating device memory");
        return p;
    }
    void deallocate(void * p) override { cudaFree(p); }
    void * allocate_host(size_t bytes) override {
        void * p = nullptr;
        check(cudaMallocHost(&p, bytes == 0 ? 256 : bytes), "allocating page-locked host memory");
        return p;
    }
    void deallocate_host(void * p) override { cudaFreeHost(p); }

    void upload(void * to, const void * host, size_t bytes) override {
        if (!bytes) return;
        check(cudaMemcpyAsync(to, host, bytes, cudaMemcpyHostToDevice, stream_), "copying to the GPU");
        wrote(to, bytes, stream_);
    }
    // Per Note [double buffers], the next batch goes up on the copy stream while the step in flight computes;
    // the next run_step makes the compute stream wait for it. The buffers it writes are the ones that step
    // does not read (Executor's second set).
    void upload_ahead(void * to, const void * host, size_t bytes) override {
        if (!bytes) return;
        check(cudaMemcpyAsync(to, host, bytes, cudaMemcpyHostToDevice, copy_stream_), "copying to the GPU");
        wrote(to, bytes, copy_stream_);
        check(cudaEventRecord(uploaded_, copy_stream_), "recording an upload");
        pending_upload_ = true;
    }
    void download(void * host, const void * from, size_t bytes) override {
        if (bytes)
            check(cudaMemcpyAsync(host, from, bytes, cudaMemcpyDeviceToHost, stream_),
                  "copying from the GPU");
    }
    void copy(void * to, const void * from, size_t bytes) override {
        if (!bytes || to == from) return;
        check(cudaMemcpyAsync(to, from, bytes, cudaMemcpyDeviceToDevice, stream_), "copying on the GPU");
        wrote(to, bytes, stream_);
    }
    void synchronize() override {
        check(cudaStreamSynchronize(stream_), "running on the GPU");
        check(cudaStreamSynchronize(copy_stream_), "copying to the GPU");
    }

    // An event before each kernel and one after the last: each kernel's time as the GPU saw it, whatever it
    // issues (a bfloat16 conversion, cuDNN's calls) included.
    void run_timed(std::vector<KernelCtx> & kernels, std::vector<double> & seconds) override {
        while (timing_events_.size() < kernels.size() + 1) {
            cudaEvent_t e = nullptr;
            check(cudaEventCreate(&e), "creating an event");
            timing_events_.push_back(e);
        }
        check(cudaEventRecord(timing_events_[0], stream_), "recording an event");
        for (size_t i = 0; i < kernels.size(); ++i) {
            run(kernels[i]);
            check(cudaEventRecord(timing_events_[i + 1], stream_), "recording an event");
        }
        check(cudaEventSynchronize(timing_events_[kernels.size()]), "running on the GPU");
        for (size_t i = 0; i < kernels.size(); ++i) {
            float ms = 0;
            check(cudaEventElapsedTime(&ms, timing_events_[i], timing_events_[i + 1]), "reading an event");
            seconds[i] += ms * 1e-3;
        }
    }

    // Note [CUDA graphs]: the first step of a key runs eagerly (cuBLAS picks its algorithms, scratch is
    // allocated), the second is captured into a graph, and every later one replays it: one launch for the
    // whole step instead of one per kernel. The step values are copied in before, outside the graph.
    void run_step(const void * key, const StepValues & values,
                  const std::function<void()> & launches) override {
        values_ = values;
        host_step_ = StepScalars{
            .seed = values.seed, .step = values.step, .lr = values.lr, .t = static_cast<double>(values.t)};
        upload(step_, &host_step_, sizeof host_step_);
        if (pending_upload_) {
            check(cudaStreamWaitEvent(stream_, uploaded_, 0), "waiting for the inputs");
            pending_upload_ = false;
        }
        Recording & r = recordings_[key];
        ++r.runs;
        if (r.exec) {
            check(cudaGraphLaunch(r.exec, stream_), "replaying the training step");
            return;
        }
        if (!graphs_ || r.runs == 1 || r.failed) {
            launches();
            return;
        }
        check(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), "recording the step");
        try {
            launches();
        } catch (...) {
            cudaGraph_t broken = nullptr;
            cudaStreamEndCapture(stream_, &broken);
            if (broken) cudaGraphDestroy(broken);
            throw;
        }
        cudaGraph_t graph = nullptr;
        const cudaError_t ended = cudaStreamEndCapture(stream_, &graph);
        if (ended != cudaSuccess || !graph || cudaGraphInstantiate(&r.exec, graph, 0) != cudaSuccess) {
            // Something in the step cannot be recorded: it keeps running eagerly, which is correct, only
            // slower.
            cudaGetLastError();
            if (graph) cudaGraphDestroy(graph);
            r.exec = nullptr;
            r.failed = true;
            launches();
            return;
        }
        cudaGraphDestroy(graph);
        check(cudaGraphLaunch(r.exec, stream_), "replaying the training step");
    }

    void forget(const void * key) override {
        auto it = recordings_.find(key);
        if (it == recordings_.end()) return;
        cudaStreamSynchronize(stream_);
        if (it->second.exec) cudaGraphExecDestroy(it->second.exec);
        recordings_.erase(it);
        // Kernel contexts of a freed executor may be reused at the same addresses by a new one.
        args_.clear();
        kernels_.clear();
    }

    // Note [scratch]: buffers only grow; an outgrown one stays allocated, since a recorded step may still use
    // it.
    void * scratch(size_t bytes) {
        if (bytes > scratch_bytes_) {
            scratch_.push_back(allocate(bytes));
            scratch_bytes_ = bytes;
        }
        return scratch_.empty() ? nullptr : scratch_.back();
    }

    // Note [bf16 operands]: with train.precision bf16 the GEMMs read bfloat16 copies of their float32
    // operands. A copy is keyed by the operand's address and made at its first use; it stays valid until
    // something writes that memory: a kernel's output (run), an upload or a copy. Then an activation's copy
    // is dropped (the next GEMM that reads it converts again: once per step, however many GEMMs read it), and
    // a parameter's is converted again at once. The optimizer rewrites its parameters' copies in the update
    // kernel itself, so the weights are converted once per step, there, and never by a GEMM. Validity is
    // decided on the host in stream order, and a recorded step makes the same decisions every time it is
    // issued, so a replayed graph converts exactly what the eager step did.
    const void * bf16_operand(const float * x, int64_t n) {
        Bf16Copy & c = bf16_[x];
        if (c.valid && c.n == n) return c.copy;
        if (c.capacity < n) {  // grows on eager runs; an outgrown buffer stays, a recorded step may read it
            c.copy = allocate(static_cast<size_t>(n) * 2);
            bf16_buffers_.push_back(c.copy);
            c.capacity = n;
        }
        c.n = n;
        convert_to_bf16(x, c.copy, n, stream_);
        c.valid = true;
        return c.copy;
    }

    // Something wrote [p, p + bytes) on `stream`: the bfloat16 copies of what it overlaps are stale.
    void wrote(const void * p, size_t bytes, cudaStream_t stream, const void * except = nullptr) {
        if (bf16_.empty()) return;
        const auto lo = reinterpret_cast<uintptr_t>(p), hi = lo + bytes;
        for (auto & [src, c] : bf16_) {
            const auto a = reinterpret_cast<uintptr_t>(src), b = a + static_cast<uintptr_t>(c.n) * 4;
            if (src == except || b <= lo || hi <= a || !c.valid) continue;
            if (c.param)
                convert_to_bf16(src, c.copy, c.n, stream);
            else
                c.valid = false;
        }
    }

    void optimizer_update(const OptimizerUpdate & u) override {
        const UpdateRule & r = u.rule;
        OptimizerRule rule{.type = optimizer_type(r.kind),
                           .momentum = static_cast<float>(r.momentum),
                           .beta_1 = static_cast<float>(r.beta_1),
                           .beta_2 = static_cast<float>(r.beta_2),
                           .epsilon = static_cast<float>(r.epsilon),
                           .rho = static_cast<float>(r.rho),
                           .weight_decay = static_cast<float>(r.weight_decay),
                           .nesterov = r.nesterov,
                           .decoupled_weight_decay = r.decoupled_weight_decay,
                           .clip_global_norm = r.clip_global_norm,
                           .clip_value = static_cast<float>(r.clip_value)};
        if (!has_optimizer_update(rule.type))
            throw Error(ExitCode::internal, fmt::format("the CUDA plugin has no update for optimizer kind {}",
                                                        static_cast<int>(r.kind)));
        std::vector<OptimizerSlice> & slices = optimizer_slices_;  // reused: no allocation per step
        slices.clear();
        for (const OptimizerTensor & t : u.tensors) {
            void * param_bf16 = nullptr;
            if (auto it = bf16_.find(t.param); it != bf16_.end() && it->second.n == t.size) {
                it->second.param = true;  // from now on the update keeps it current
                it->second.valid = true;
                param_bf16 = it->second.copy;
            }
            slices.push_back({.param = t.param,
                              .grad = t.grad,
                              .slot0 = t.slot0,
                              .slot1 = t.slot1,
                              .size = t.size,
                              .param_bf16 = param_bf16});
        }
        const size_t bytes = optimizer_scratch_bytes(slices.data(), static_cast<int>(slices.size()));
        // Allocated on a step's first (eager) run, before any recording.
        void *& scratch = optimizer_scratch_[bytes];
        if (!scratch) scratch = allocate(bytes);
        launch_optimizer(rule, slices.data(), static_cast<int>(slices.size()), u.norm_out, scratch, step_,
                         stream_);
        for (const OptimizerTensor & t : u.tensors)
            wrote(t.param, static_cast<size_t>(t.size) * 4, stream_, /*except=*/t.param);
    }

private:
    static constexpr size_t kCublasWorkspace = size_t{32} << 20;
    struct Bf16Copy {
        void * copy = nullptr;
        int64_t n = 0, capacity = 0;
        bool valid = false;
        bool param = false;  // a parameter the optimizer updates (and converts)
    };
    struct Recording {
        cudaGraphExec_t exec = nullptr;
        int64_t runs = 0;
        bool failed = false;
    };

    int device_;
    cudaStream_t stream_ = nullptr;
    cudaStream_t copy_stream_ = nullptr;
    cudaEvent_t uploaded_ = nullptr;
    bool pending_upload_ = false;
    cublasHandle_t cublas_ = nullptr;
    cublasLtHandle_t cublas_lt_ = nullptr;
    void * cublas_workspace_ = nullptr;
    StepScalars * step_ = nullptr;
    StepScalars host_step_{};
    bool graphs_ = true;
    Precision precision_ = Precision::f32;
    std::unordered_map<const void *, Recording> recordings_;
    std::unordered_map<const KernelCtx *, Args> args_;
    std::unordered_map<const KernelCtx *, Kernel> kernels_;
    std::map<size_t, void *> optimizer_scratch_;
    std::vector<OptimizerSlice> optimizer_slices_;
    std::vector<void *> scratch_;
    size_t scratch_bytes_ = 0;
    std::unordered_map<const float *, Bf16Copy> bf16_;
    std::vector<void *> bf16_buffers_;
    std::vector<cudaEvent_t> timing_events_;
};

}  // namespace

void * scratch(const Args & a, size_t bytes) { return static_cast<CudaBackend *>(a.backend)->scratch(bytes); }

const void * bf16_operand(const Args & a, const float * x, int64_t n) {
    return static_cast<CudaBackend *>(a.backend)->bf16_operand(x, n);
}

}  // namespace dl::cuda

extern "C" __attribute__((visibility("default"))) dl::Backend * dlctl_cuda_create_backend(int index,
                                                                                          char * error,
                                                                                          int error_len) {
    try {
        return new dl::cuda::CudaBackend(index);
    } catch (const std::exception & e) {
        std::snprintf(error, static_cast<size_t>(error_len), "%s", e.what());
        return nullptr;
    }
}

// The ops with a CUDA kernel, for the plugin's own tests (they run without a GPU): their count, and up to
// `cap` names.
extern "C" __attribute__((visibility("default"))) int dlctl_cuda_kernels(const char ** names, int cap) {
    int n = 0;
    for (const auto & [op, kernel] : dl::cuda::registered_kernels()) {
        if (n < cap) names[n] = op.c_str();
        ++n;
    }
    return n;
}
