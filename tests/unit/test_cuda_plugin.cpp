// The CUDA plugin as built, without a GPU: it loads, every engine/ops/<op>.cu registers a kernel under its
// own file name for an op the engine has (one spelling, as for the CPU kernels), and dlctl itself links no
// CUDA library. Builds without the plugin (DLCTL_CUDA=OFF) skip it.
#include <dlfcn.h>
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>

#include "graph/op.h"

TEST_CASE(
    "the CUDA plugin registers one kernel per ops/*.cu, named after its file, for an op of the engine") {
    if (!DLCTL_HAVE_CUDA) {
        MESSAGE("SKIP: built without the CUDA plugin");
        return;
    }
    const char * path = std::getenv("DLCTL_CUDA_PLUGIN");
    REQUIRE(path != nullptr);
    void * plugin = ::dlopen(path, RTLD_NOW | RTLD_LOCAL);
    INFO(::dlerror());
    REQUIRE(plugin != nullptr);  // loads on a machine without a GPU or driver
    using List = int (*)(const char **, int);
    auto list = reinterpret_cast<List>(::dlsym(plugin, "dlctl_cuda_kernels"));
    REQUIRE(static_cast<bool>(list));
    REQUIRE(::dlsym(plugin, "dlctl_cuda_create_backend") != nullptr);
    const char * names[512];
    const int n = list(names, 512);
    REQUIRE(n <= 512);
    std::set<std::string> kernels(names, names + n);
    std::set<std::string> files;
    for (const auto & e : std::filesystem::directory_iterator(std::string(DLCTL_SOURCE_DIR) + "/engine/ops"))
        if (e.path().extension() == ".cu") files.insert(e.path().stem().string());
    CHECK(kernels == files);
    for (const std::string & k : kernels) {
        INFO(k);
        CHECK(dl::find_op(k) != nullptr);
    }
    MESSAGE(n << " CUDA kernels registered");
    CHECK(n >= 20);
}
