// Image references. The rest of the registry client is split by subsystem: local_image.cpp (the image to
// push, read from disk), registry_session (HTTP over libcurl, bounded answers, retries), registry_auth
// (credentials, tokens, where credentials may go), registry_documents (media types, bounded JSON, a
// manifest's blobs), registry_push.cpp and registry_pull.cpp (with the blob cache).
#include "oci/registry_client.h"

#include <regex>

#include "core/error.h"

namespace dl::oci {

std::string RegistryReference::str() const {
    std::string s = registry + "/" + repository;
    if (!tag.empty()) s += ":" + tag;
    if (!digest.empty()) s += "@" + digest;
    return s;
}

RegistryReference parse_registry_reference(std::string_view text) {
    auto bad = [&](const std::string & why) {
        return Error(
            ExitCode::bad_input,
            fmt::format("invalid image reference '{}': {} (want REGISTRY/REPOSITORY:TAG)", text, why));
    };
    RegistryReference ref;
    std::string rest(text);
    if (auto at = rest.find('@'); at != std::string::npos) {
        ref.digest = rest.substr(at + 1);
        rest.resize(at);
        static const std::regex digest_re("sha256:[a-f0-9]{64}");
        if (!std::regex_match(ref.digest, digest_re)) throw bad("the digest is not sha256:<64 hex digits>");
    }
    const auto slash = rest.find('/');
    if (slash == std::string::npos) throw bad("no registry host");
    ref.registry = rest.substr(0, slash);
    rest = rest.substr(slash + 1);
    // The tag is after the last colon of the path part (the registry's port colon is already split off).
    if (auto colon = rest.rfind(':'); colon != std::string::npos) {
        ref.tag = rest.substr(colon + 1);
        rest.resize(colon);
        static const std::regex tag_re("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
        if (!std::regex_match(ref.tag, tag_re)) throw bad(fmt::format("invalid tag '{}'", ref.tag));
    }
    ref.repository = rest;
    static const std::regex host_re(
        R"((\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*)(:([0-9]{1,5}))?)");
    std::smatch m;
    if (!std::regex_match(ref.registry, m, host_re))
        throw bad(fmt::format("invalid registry '{}'", ref.registry));
    if (m[6].matched && std::stoi(m[6].str()) > 65535)
        throw bad(fmt::format("port {} is out of range", m[6].str()));
    // Without a dot, a port or "localhost" the first component is a repository path (docker.io/library/...),
    // which dlctl does not guess.
    if (ref.registry.find_first_of(".:[") == std::string::npos && ref.registry != "localhost")
        throw bad(fmt::format("'{}' is not a registry host (name one, e.g. localhost:5000/{})", ref.registry,
                              std::string(text)));
    static const std::regex repo_re("[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)*");
    if (ref.repository.empty() || ref.repository.size() > 255 || !std::regex_match(ref.repository, repo_re))
        throw bad(
            fmt::format("invalid repository '{}' (lowercase letters, digits, . _ - and /)", ref.repository));
    if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
    return ref;
}

}  // namespace dl::oci
