// A backend runs kernels for the executor. The CPU backend (Eigen) is the oracle; the CUDA backend is a plugin
// (libdlctl_cuda.so beside the binary), loaded on demand so dlctl itself links no CUDA library.
//   CpuBackend cpu;  cpu.run(kernel_ctx);
//   DeviceInfo info = probe_device("cuda");   // throws Error(unavailable) with a clear message when there is none
#pragma once

#include <string>
#include <vector>

#include "ops/op.h"

namespace dl {

class Backend {
public:
    virtual ~Backend() = default;
    virtual const char * name() const = 0;
    virtual bool supports(const Node & n) const = 0;
    virtual void run(KernelCtx & k) = 0;
};

class CpuBackend final : public Backend {
public:
    const char * name() const override { return "cpu"; }
    bool supports(const Node & n) const override { return n.def->cpu != nullptr; }
    void run(KernelCtx & k) override { k.node.def->cpu(k); }
};

struct DeviceInfo {
    std::string kind;                  // "cpu" or "cuda"
    int index = 0;
    std::vector<std::string> devices;  // names of the devices found
};

// "cpu", "cuda", "cuda:N": checks the device exists; CUDA goes through the plugin.
DeviceInfo probe_device(const std::string & device);

}  // namespace dl
