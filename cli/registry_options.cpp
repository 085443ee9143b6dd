#include "registry_options.h"

#include <fmt/format.h>

#include <iostream>

#include "core/error.h"
#include "report.h"

namespace dlctl {

void add_registry_options(CLI::App * sub, RegistryCliOptions & o) {
    sub->add_flag("--insecure", o.insecure, "plain HTTP, and no TLS certificate verification");
    sub->add_option("--username", o.username,
                    "registry user (default: $DOCKER_CONFIG/config.json or ~/.docker/config.json)");
    sub->add_flag("--password-stdin", o.password_stdin, "read the password (first line) from stdin");
    sub->add_option("--retries", o.retries,
                    "retries on connection errors, 5xx and 429, with exponential backoff")
        ->check(CLI::Range(0, 100))
        ->capture_default_str();
    sub->add_option(
           "--timeout", o.timeout,
           "seconds a registry may take to answer a request (a blob transfer may stall for twice this), "
           "and to keep failing before the retries stop")
        ->check(CLI::Range(1, 3600))
        ->capture_default_str();
    sub->add_flag("-v,--verbose", o.verbose, "log each request (method, URL, status); never a credential");
}

void fill_registry_options(const RegistryCliOptions & o, dl::oci::RegistryOptions & out) {
    if (o.password_stdin && o.username.empty())
        throw dl::Error(dl::ExitCode::usage, "--password-stdin needs --username");
    out.insecure = o.insecure;
    out.username = o.username;
    out.retries = o.retries;
    out.timeout_s = o.timeout;
    if (o.password_stdin) {
        std::getline(std::cin, out.password);
        if (!out.password.empty() && out.password.back() == '\r') out.password.pop_back();
    } else if (!o.username.empty()) {
        throw dl::Error(dl::ExitCode::usage,
                        "--username needs --password-stdin (a password is never an argument)");
    }
    if (o.verbose) out.log = [](const std::string & line) { fmt::print(stderr, "dlctl: {}\n", line); };
    // Retries and resumptions are worth a line even without -v: a slow push should say why it is slow.
    out.warn = [](const std::string & line) { fmt::print(stderr, "dlctl: {}\n", line); };
    if (stderr_is_tty() && !o.verbose) {
        // Redrawn only when the percentage changes: curl moves a large blob in thousands of pieces.
        out.progress = [last = std::string(), last_percent = -1](const std::string & digest, int64_t done,
                                                                 int64_t total) mutable {
            const int percent = total > 0 ? static_cast<int>(100 * done / total) : 100;
            if (digest == last && percent == last_percent) return;
            last = digest;
            last_percent = percent;
            fmt::print(stderr, "\r  {:.19} {:3d}% {:.1f}/{:.1f} MB", digest, percent, done / 1e6,
                       total / 1e6);
            if (done >= total) fmt::print(stderr, "\n");
        };
    }
}

}  // namespace dlctl
