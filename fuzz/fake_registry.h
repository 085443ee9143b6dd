// A registry played from a script, for the targets that fuzz what dlctl's registry client parses (registry,
// tar): a plain HTTP/1.1 server on 127.0.0.1 answering the client's requests in the order they come with the
// script's answers, then 404s. The real client (pull_image, push_image, load_base_image) talks to it over
// loopback, so what is fuzzed is what a hostile registry can send: status lines, headers (WWW-Authenticate,
// Location, Docker-Content-Digest, Retry-After) and bodies (manifests, indexes, configs, tokens, layers).
//
// Script: answers separated by a line "--"; each is a status line, header lines up to an empty line, then the
// body:
//   200
//   Content-Type: application/vnd.oci.image.manifest.v1+json
//
//   {"schemaVersion": 2, "config": {"digest": "@D1@", "size": @S1@, ...}, ...}
//   --
//   200
//
//   {"os": "linux", "architecture": "amd64", ...}
// Placeholders, so that mutated bodies still hash to what refers to them: @PORT@ (the server's port), @Dn@
// ("sha256:<hex>" of answer n's body) and @Sn@ (its length), n = 0..9. A body refers to later answers only; a
// header may refer to its own answer's body too.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dlctl_fuzz {

struct FakeAnswer {
    int status = 200;
    std::string headers;  // "Name: value\n" lines, placeholders resolved
    std::string body;
};

// The server (started on first use, once per process), and its port.
int fake_registry_port();
// Replaces the answers still to be given with the script's (or with answers built by the caller).
void fake_registry_play(std::string_view script);
void fake_registry_play(std::vector<FakeAnswer> answers);
// The script's answers with placeholders resolved (exposed for the targets that build scripts).
std::vector<FakeAnswer> parse_script(std::string_view script, int port);
// Points libcurl away from every host but the fake registry (a proxy that refuses at once; the loopback
// address exempt), so that a fuzzed Location or realm never waits on the network; and $DOCKER_CONFIG at an
// empty folder, so that no real credentials are read.
void isolate_network();

}  // namespace dlctl_fuzz
