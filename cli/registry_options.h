// The registry options `dlctl push`, `dlctl pull` and `dlctl package --base` share: --insecure, --username with
// --password-stdin, --retries, -v; and the progress bar, warnings and request log they print on stderr.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "oci/registry_client.h"

namespace dlctl {

struct RegistryCliOptions {
    std::string username;
    bool password_stdin = false, insecure = false, verbose = false;
    int retries = 5;
    int timeout = 30;
};

void add_registry_options(CLI::App * sub, RegistryCliOptions & o);

// Reads the password from stdin when asked to; Error(usage) for --username without --password-stdin.
void fill_registry_options(const RegistryCliOptions & o, dl::oci::RegistryOptions & out);

}  // namespace dlctl
