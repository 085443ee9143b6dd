// A backend runs kernels for the executor and owns the memory they run on. The CPU backend (Eigen) is the
// oracle and computes in host memory; the CUDA backend is a plugin (libdlctl_cuda.so beside the binary),
// loaded on demand so dlctl itself links no CUDA library, and computes in device memory that the host never
// touches: the executor copies only at the edges (batches in, the outputs the host reads out).
//   std::unique_ptr<Backend> b = make_backend("cuda:0", threads);  // Error(unavailable, 69) without a GPU
//   void * arena = b->allocate(bytes);
//   b->run_step(&executor, {.seed = 7, .step = 12}, [&] { for (KernelCtx & k : kernels) b->run(k); });
//   b->synchronize();
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "graph/op.h"

namespace dl {

// What changes from one training step to the next. A device backend keeps them in device memory, where its
// kernels read them, so that a recorded step (a CUDA graph) replays with each step's values.
struct StepValues {
    uint64_t seed = 0;
    uint64_t step = 0;  // the optimizer step: random ops (dropout) draw from (seed, step)
    double lr = 0;      // the learning rate of this step's update
    int64_t t = 0;      // the optimizer's iteration count after this update (Adam's bias correction)
};

// One parameter of a fused optimizer update: pointers in the backend's memory.
struct OptimizerTensor {
    float * param = nullptr;
    const float * grad = nullptr;
    float * slot0 = nullptr;  // momentum, m, rms or accumulator, as Optimizer names them
    float * slot1 = nullptr;  // v, or rmsprop's momentum
    int64_t size = 0;
};

// An optimizer's update as plain data: optim/ translates the spec's names into it (update_rule), so no
// backend, the CUDA plugin included, parses a name. Hyperparameters in double, as the spec gives them.
enum class UpdateKind : int { sgd, adam, adamw, rmsprop, adagrad };
struct UpdateRule {
    UpdateKind kind = UpdateKind::adam;
    double momentum = 0;  // sgd, rmsprop
    bool nesterov = false;
    double beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7, rho = 0.9;
    double weight_decay = 0;
    bool decoupled_weight_decay = false;  // applied to the weights (adamw), else added to the gradient
    double clip_global_norm = 0, clip_value = 0;  // 0: off
};

// Every trainable parameter updated in one launch: what Optimizer::step does on the host, on the device.
struct OptimizerUpdate {
    UpdateRule rule;
    std::span<const OptimizerTensor> tensors;
    float * norm_out = nullptr;  // backend memory: the global gradient norm before clipping, as float
};

// Every member is inline, so the class has no key function: the CUDA plugin derives from it without linking
// the engine's compiled code.
class Backend {
public:
    virtual ~Backend() = default;
    virtual const char * name() const = 0;
    virtual bool supports(const Node & n) const = 0;
    virtual void run(KernelCtx & k) = 0;

    // True when the backend computes in host memory (buffers may be shared with the host as they are).
    virtual bool host_memory() const { return true; }
    // Uninitialised memory of the backend, 256-byte aligned; Error(unavailable) when it is exhausted.
    virtual void * allocate(size_t bytes) {
        void * p = std::aligned_alloc(256, bytes == 0 ? 256 : (bytes + 255) / 256 * 256);
        DL_CHECK(p != nullptr, ExitCode::unavailable, "out of host memory allocating {} bytes", bytes);
        return p;
    }
    virtual void deallocate(void * p) { std::free(p); }
    // Host memory for the buffers copied to and from the backend's: page-locked on a GPU, so that the copies
    // are direct and asynchronous.
    virtual void * allocate_host(size_t bytes) { return Backend::allocate(bytes); }
    virtual void deallocate_host(void * p) { Backend::deallocate(p); }
    // In the backend's stream order; `synchronize` waits for everything issued so far.
    virtual void upload(void * to, const void * host, size_t bytes) {
        if (to != host && bytes > 0) std::memcpy(to, host, bytes);
    }
    virtual void download(void * host, const void * from, size_t bytes) {
        if (host != from && bytes > 0) std::memcpy(host, from, bytes);
    }
    // An upload the next run_step waits for, which may overlap the step in flight (a GPU's copy stream).
    virtual void upload_ahead(void * to, const void * host, size_t bytes) { upload(to, host, bytes); }
    virtual void copy(void * to, const void * from, size_t bytes) {
        if (to != from && bytes > 0) std::memmove(to, from, bytes);
    }
    virtual void synchronize() {}

    // Runs `kernels` in order, adding each one's time to seconds[i] (`dlctl bench`): here the host's clock
    // around each kernel. A GPU times them on the device instead (events between the kernels, one wait at
    // the end), so that no host round trip per kernel is counted as the kernel's.
    virtual void run_timed(std::vector<KernelCtx> & kernels, std::vector<double> & seconds) {
        for (size_t i = 0; i < kernels.size(); ++i) {
            const auto t0 = std::chrono::steady_clock::now();
            run(kernels[i]);
            synchronize();
            seconds[i] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        }
    }

    // Issues one step's work: `launches` runs kernels (run), copies and optimizer updates. A device backend
    // runs it as it is the first time it sees `key`, records it the second time and replays the recording
    // from then on, with `values` in device memory; the work for one key must therefore be the same every
    // time (same buffers, shapes and kernels) apart from `values`. The CPU backend just calls it.
    virtual void run_step(const void * key, const StepValues & values,
                          const std::function<void()> & launches) {
        values_ = values;
        launches();
    }
    // Forgets the recordings made for `key` (its buffers are about to be freed).
    virtual void forget(const void * key) { (void)key; }

    // train.precision ("float32", "tf32", "bf16") for the matmuls and convolutions that follow. Returns false
    // when the backend computes in float32 whatever is asked (the CPU).
    virtual bool set_precision(const std::string & precision) { return precision == "float32"; }

    // The fused optimizer update of every parameter, reading lr and t from the step's values (device
    // backends).
    virtual void optimizer_update(const OptimizerUpdate & update) {
        (void)update;
        throw Error(
            ExitCode::internal,
            fmt::format("the {} backend has no fused optimizer update: its parameters stay on the host",
                        name()));
    }
    // The values of the step being issued (host backends: what run_step was given).
    const StepValues & step_values() const { return values_; }

protected:
    StepValues values_;
};

class CpuBackend final : public Backend {
public:
    const char * name() const override { return "cpu"; }
    bool supports(const Node & n) const override { return n.def->cpu != nullptr; }
    void run(KernelCtx & k) override { k.node.def->cpu(k); }
};

struct DeviceInfo {
    std::string kind;  // "cpu" or "cuda"
    int index = 0;
    std::vector<std::string> devices;  // names of the devices found
};

// "cpu", "cuda", "cuda:N", "auto": checks the device exists; CUDA goes through the plugin. "auto" is the
// first GPU when there is one, else the CPU.
DeviceInfo probe_device(const std::string & device);

// The backend for a device (as probe_device names it): a CpuBackend, or the CUDA plugin's backend on GPU N.
std::unique_ptr<Backend> make_backend(const std::string & device);

// The device a verb runs on, for every verb that takes --device: the flag, else the spec's `device`, else the
// CPU.
inline std::string resolve_device(const std::string & flag, const std::string & spec_device) {
    return !flag.empty() ? flag : !spec_device.empty() ? spec_device : "cpu";
}

}  // namespace dl
