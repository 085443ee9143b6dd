// fuzz_replay TARGET PATH...: feeds every file under each PATH (a file or a folder, recursively, in name
// order) through the fuzz target TARGET, as libFuzzer would run one input; exits non-zero at the first
// finding. CTest runs it over fuzz/corpus/TARGET and fuzz/regressions/TARGET (fuzz/CMakeLists.txt), so every
// saved finding is a regression test of `make test`, built with the project's own compiler.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "harness.h"

namespace dlctl_fuzz {

namespace {
std::map<std::string, Body> & targets() {
    static std::map<std::string, Body> t;
    return t;
}
}  // namespace

bool register_target(const char * name, Body body) {
    targets()[name] = body;
    return true;
}

}  // namespace dlctl_fuzz

int main(int argc, char ** argv) {
    namespace fs = std::filesystem;
    auto & targets = dlctl_fuzz::targets();
    if (argc < 2 || !targets.count(argv[1])) {
        std::fprintf(stderr, "usage: %s TARGET [FILE|DIR]...\ntargets:", argv[0]);
        for (const auto & [name, body] : targets) std::fprintf(stderr, " %s", name.c_str());
        std::fprintf(stderr, "\n");
        return 2;
    }
    const std::string target = argv[1];
    std::vector<fs::path> files;
    for (int i = 2; i < argc; ++i) {
        const fs::path p = argv[i];
        std::error_code ec;
        if (fs::is_directory(p, ec)) {
            for (const auto & e : fs::recursive_directory_iterator(p))
                if (e.is_regular_file() && e.path().filename().string().front() != '.')
                    files.push_back(e.path());
        } else if (fs::exists(p, ec)) {
            files.push_back(p);
        }  // an absent folder (no regressions yet) is nothing to replay
    }
    std::sort(files.begin(), files.end());
    for (const fs::path & f : files) {
        std::ifstream in(f, std::ios::binary);
        const std::string bytes{std::istreambuf_iterator<char>(in), {}};
        std::fprintf(stderr, "%s: %s (%zu bytes)\n", target.c_str(), f.c_str(), bytes.size());
        dlctl_fuzz::run_one(target.c_str(), targets[target], bytes);
    }
    std::printf("%s: %zu inputs replayed, no finding\n", target.c_str(), files.size());
    return 0;
}
