#include "harness.h"

#include <cxxabi.h>
#include <fmt/format.h>
#include <unistd.h>

#include <fstream>
#include <memory>

namespace dlctl_fuzz {

namespace fs = std::filesystem;

namespace {

std::string type_name(const std::type_info & t) {
    int status = 0;
    std::unique_ptr<char, void (*)(void *)> name(abi::__cxa_demangle(t.name(), nullptr, nullptr, &status),
                                                 std::free);
    return status == 0 && name ? name.get() : t.name();
}

bool verbose() {
    static const bool on = std::getenv("DLCTL_FUZZ_VERBOSE") && *std::getenv("DLCTL_FUZZ_VERBOSE") == '1';
    return on;
}

void remove_scratch() {
    std::error_code ec;
    fs::remove_all(scratch_dir(), ec);
}

}  // namespace

const fs::path & scratch_dir() {
    // Per process: libFuzzer's -fork and -jobs modes run several at once.
    static const fs::path dir = [] {
        const fs::path d = fs::temp_directory_path() / fmt::format("dlctl-fuzz-{}", getpid());
        fs::create_directories(d);
        std::atexit(remove_scratch);
        return d;
    }();
    return dir;
}

std::string scratch_file(const std::string & name, std::string_view bytes) {
    const fs::path path = scratch_dir() / name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) finding("harness", fmt::format("cannot write {}", path.string()));
    return path.string();
}

void finding(const char * target, const std::string & what) {
    std::fprintf(stderr, "\n==dlctl-fuzz== %s: FINDING: %s\n", target, what.c_str());
    std::fflush(stderr);
    std::abort();
}

void run_one(const char * target, Body body, std::string_view input) {
    try {
        body(input);
        if (verbose()) std::fprintf(stderr, "%s: accepted\n", target);
    } catch (const dl::Error & e) {
        if (e.code() == dl::ExitCode::internal) finding(target, fmt::format("exit 70: {}", e.what()));
        // Any other typed error is the expected answer to a bad input; DLCTL_FUZZ_VERBOSE=1 shows it (is a
        // seed accepted, or refused where expected?).
        if (verbose())
            std::fprintf(stderr, "%s: exit %d: %s\n", target, static_cast<int>(e.code()), e.what());
        return;
    } catch (const std::exception & e) {
        finding(target, fmt::format("uncaught {}: {}", type_name(typeid(e)), e.what()));
    } catch (...) {
        finding(target, "uncaught exception of a type not derived from std::exception");
    }
}

}  // namespace dlctl_fuzz
