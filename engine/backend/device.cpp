#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <filesystem>

#include "backend/backend.h"

namespace dl {

namespace {

std::string executable_dir() {
    char buf[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return ".";
    buf[n] = '\0';
    return std::filesystem::path(buf).parent_path().string();
}

// The plugin's C entry point: fills `names` with up to `cap` device names, returns the device count or -1 with
// a message in `error`.
using DeviceQuery = int (*)(char (*names)[256], int cap, char * error, int error_len);

}  // namespace

DeviceInfo probe_device(const std::string & device) {
    DeviceInfo info;
    if (device == "cpu") {
        info.kind = "cpu";
        info.devices = {"cpu"};
        return info;
    }
    if (device != "cuda" && device.rfind("cuda:", 0) != 0)
        throw Error(ExitCode::usage, fmt::format("unknown device '{}' (expected cpu, cuda or cuda:N)", device));
    info.kind = "cuda";
    if (device.size() > 5) {
        try {
            info.index = std::stoi(device.substr(5));
        } catch (...) {
            throw Error(ExitCode::usage, fmt::format("bad device '{}': expected cuda:N", device));
        }
    }
    if (!DLCTL_HAVE_CUDA)
        throw Error(ExitCode::unavailable,
                    "no CUDA device: this dlctl was built without its CUDA plugin (DLCTL_CUDA=OFF, or no nvcc found)");
    const std::string plugin = executable_dir() + "/libdlctl_cuda.so";
    void * handle = ::dlopen(plugin.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        throw Error(ExitCode::unavailable,
                    fmt::format("no CUDA device: the CUDA plugin could not be loaded ({})", ::dlerror()));
    }
    auto query = reinterpret_cast<DeviceQuery>(::dlsym(handle, "dlctl_cuda_devices"));
    if (!query) throw Error(ExitCode::unavailable, fmt::format("{}: not a dlctl CUDA plugin", plugin));
    char names[16][256] = {};
    char error[512] = {};
    const int count = query(names, 16, error, sizeof error);
    if (count <= 0) {
        throw Error(ExitCode::unavailable,
                    fmt::format("no CUDA device: {}", error[0] ? error : "the driver reports no GPU"));
    }
    for (int i = 0; i < std::min(count, 16); ++i) info.devices.emplace_back(names[i]);
    if (info.index >= count)
        throw Error(ExitCode::unavailable, fmt::format("no CUDA device {}: {} found", info.index, count));
    // The CUDA kernels arrive with issue [5]; until then a found GPU cannot run a graph.
    throw Error(ExitCode::unavailable,
                fmt::format("CUDA device {} ({}) found, but this build's CUDA backend runs no kernels yet; use --device cpu",
                            info.index, info.devices[static_cast<size_t>(info.index)]));
}

}  // namespace dl
