// Typed errors for everything a user can cause, each carrying its process exit code.
//
//   DL_CHECK(rate > 0, ExitCode::bad_input, "learning rate must be positive, got {}", rate);
//   throw dl::Error(ExitCode::missing_input, fmt::format("{}: no such file", path));
//   DL_ASSERT(node.inputs.size() == 2);   // our own invariant: "internal error ... please report"
//
// Only cli/main.cpp turns an Error into a message and an exit code; nothing in the engine exits or aborts.
#pragma once

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <stdexcept>
#include <string>

namespace dl {

// Note [exit codes]: documented in README.md and kept stable; sysexits.h values where one fits.
enum class ExitCode : int {
    ok = 0,
    runtime = 1,         // training diverged, other failure while running
    usage = 2,           // unknown flag, bad combination
    gate_failed = 3,     // eval quality gate not met
    bad_input = 65,      // invalid spec or data
    missing_input = 66,  // an input file is missing or unreadable
    unavailable = 69,    // a service or device is unavailable
    internal = 70,       // a bug in dlctl
    io = 74,             // I/O error while writing
    denied = 77,         // permission denied by a remote service
    interrupted = 130,   // SIGINT/SIGTERM during training, checkpointed first
};

class Error : public std::runtime_error {
public:
    Error(ExitCode code, const std::string & message) : std::runtime_error(message), code_(code) {}
    ExitCode code() const { return code_; }

private:
    ExitCode code_;
};

[[noreturn]] void internal_error(const char * file, int line, const std::string & what);

}  // namespace dl

#define DL_CHECK(cond, code, ...)                                         \
    do {                                                                  \
        if (!(cond)) throw ::dl::Error((code), fmt::format(__VA_ARGS__)); \
    } while (0)

#define DL_ASSERT(cond)                                               \
    do {                                                              \
        if (!(cond)) ::dl::internal_error(__FILE__, __LINE__, #cond); \
    } while (0)
