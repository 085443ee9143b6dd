#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
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

// The plugin's C entry point: fills `names` with up to `cap` device names, returns the device count or -1
// with a message in `error`.
using DeviceQuery = int (*)(char (*names)[256], int cap, char * error, int error_len);

// The plugin, opened once per process and never closed (its kernels' registrations live in it).
void * open_plugin() {
    static void * handle = nullptr;
    static std::string failure;
    if (handle || !failure.empty()) {
        if (!handle) throw Error(ExitCode::unavailable, failure);
        return handle;
    }
    // Beside the binary; $DLCTL_CUDA_PLUGIN names another (tests, which run from their own folders).
    const char * override_path = std::getenv("DLCTL_CUDA_PLUGIN");
    const std::string plugin =
        override_path && *override_path ? override_path : executable_dir() + "/libdlctl_cuda.so";
    handle = ::dlopen(plugin.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        failure = fmt::format("no CUDA device: the CUDA plugin could not be loaded ({})", ::dlerror());
        throw Error(ExitCode::unavailable, failure);
    }
    return handle;
}

DeviceInfo probe_cuda(const std::string & device) {
    DeviceInfo info;
    info.kind = "cuda";
    if (device.size() > 5) {
        try {
            size_t used = 0;
            info.index = std::stoi(device.substr(5), &used);
            if (used != device.size() - 5 || info.index < 0) throw std::invalid_argument(device);
        } catch (...) {
            throw Error(ExitCode::usage, fmt::format("bad device '{}': expected cuda:N", device));
        }
    }
    if (!DLCTL_HAVE_CUDA)
        throw Error(ExitCode::unavailable,
                    "no CUDA device: this dlctl was built without its CUDA plugin (DLCTL_CUDA=OFF, or no "
                    "nvcc found)");
    void * handle = open_plugin();
    auto query = reinterpret_cast<DeviceQuery>(::dlsym(handle, "dlctl_cuda_devices"));
    if (!query) throw Error(ExitCode::unavailable, "libdlctl_cuda.so: not a dlctl CUDA plugin");
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
    return info;
}

// The plugin's factory: a dl::Backend on GPU `index`, or nullptr with a message.
using BackendFactory = Backend * (*)(int index, char * error, int error_len);

}  // namespace

DeviceInfo probe_device(const std::string & device) {
    if (device == "cpu") return DeviceInfo{.kind = "cpu", .index = 0, .devices = {"cpu"}};
    if (device == "auto") {
        if (!DLCTL_HAVE_CUDA) return probe_device("cpu");
        try {
            return probe_cuda("cuda");
        } catch (const Error &) {
            return probe_device("cpu");
        }
    }
    if (device != "cuda" && device.rfind("cuda:", 0) != 0)
        throw Error(ExitCode::usage,
                    fmt::format("unknown device '{}' (expected cpu, cuda, cuda:N or auto)", device));
    return probe_cuda(device);
}

std::unique_ptr<Backend> make_backend(const std::string & device) {
    const DeviceInfo info = probe_device(device);
    if (info.kind == "cpu") return std::make_unique<CpuBackend>();
    auto create = reinterpret_cast<BackendFactory>(::dlsym(open_plugin(), "dlctl_cuda_create_backend"));
    if (!create) throw Error(ExitCode::unavailable, "libdlctl_cuda.so: not a dlctl CUDA plugin (no backend)");
    char error[512] = {};
    Backend * backend = create(info.index, error, sizeof error);
    if (!backend)
        throw Error(ExitCode::unavailable, fmt::format("CUDA device {} ({}): {}", info.index,
                                                       info.devices[static_cast<size_t>(info.index)], error));
    return std::unique_ptr<Backend>(backend);
}

}  // namespace dl
