// What every fuzz target shares: the entry-point macro, the outcome policy and a private scratch folder.
//
//   DLCTL_FUZZ_TARGET(csv) {             // `input` is a std::string_view of the fuzzer's bytes
//       const std::string path = dlctl_fuzz::scratch_file("data.csv", input);
//       dl::read_csv(spec, false);
//   }
//
// One source, two builds (fuzz/CMakeLists.txt): with clang and DLCTL_FUZZ=ON each file is its own libFuzzer
// binary (fuzz_csv); in every normal build all of them are linked into one `fuzz_replay` program that feeds
// the seed corpora and the saved regressions through the same code, so a finding stays a test without clang.
//
// Note [fuzz outcomes]: a typed dl::Error is the expected answer to a bad input, except ExitCode::internal
// (70), which by docs/ARCHITECTURE.md §5 is a bug in dlctl. Anything else that escapes (std::bad_alloc,
// nlohmann's exceptions, std::out_of_range, std::filesystem_error) would reach the user as "internal error"
// too, so it is a finding: the harness prints it and aborts, as it does for a sanitizer report, a timeout or
// an OOM.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>
#include <typeinfo>

#include "core/error.h"

namespace dlctl_fuzz {

using Body = void (*)(std::string_view input);

// A folder of this process's own under $TMPDIR, created on first use and removed at exit.
const std::filesystem::path & scratch_dir();
// Writes `bytes` to scratch_dir()/name (replacing it) and returns the path.
std::string scratch_file(const std::string & name, std::string_view bytes);

// Runs `body` under the outcome policy of Note [fuzz outcomes].
void run_one(const char * target, Body body, std::string_view input);

// A finding that is not a crash (an escaped exception, a broken invariant): says so and aborts, so that
// libFuzzer saves the input and the replay fails.
[[noreturn]] void finding(const char * target, const std::string & what);

// The replay build's table of targets (empty in the libFuzzer build).
bool register_target(const char * name, Body body);

}  // namespace dlctl_fuzz

#ifdef DLCTL_FUZZ_LIBFUZZER
#define DLCTL_FUZZ_TARGET(name)                                                            \
    static void dlctl_fuzz_body_##name(std::string_view input);                            \
    extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {             \
        dlctl_fuzz::run_one(#name, &dlctl_fuzz_body_##name,                                \
                            std::string_view(reinterpret_cast<const char *>(data), size)); \
        return 0;                                                                          \
    }                                                                                      \
    static void dlctl_fuzz_body_##name(std::string_view input)
#else
#define DLCTL_FUZZ_TARGET(name)                                       \
    static void dlctl_fuzz_body_##name(std::string_view input);       \
    [[maybe_unused]] static const bool dlctl_fuzz_registered_##name = \
        dlctl_fuzz::register_target(#name, &dlctl_fuzz_body_##name);  \
    static void dlctl_fuzz_body_##name(std::string_view input)
#endif
