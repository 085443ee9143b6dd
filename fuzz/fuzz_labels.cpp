// labels: the JSON files a model directory holds beside its versions and that `serve` and `package` read —
// labels.json ({"stable": 1, "canary": 2}) and signature.json — through the bounded parser every JSON goes
// through (core/json_limits.h), with the invariant that makes it a defence checked on every accepted
// document: nothing deeper than the limit ever reaches recursive code.
//   byte 0: bit 0 signature.json (ordered_json, as the server keeps it) rather than labels.json (json)
// Note: the label and signature parsers themselves are still internal to serve/version_repository.cpp
// (ModelServer::Impl::read_labels, the signature.json read in load_version) and oci/image_layout.cpp
// (read_exported_version); once they are exposed, this target calls them too (fuzz/README.md).
#include "core/json_limits.h"
#include "harness.h"

namespace {

template <class Json>
int depth_of(const Json & j) {
    int deepest = 0;
    if (j.is_structured())
        for (const auto & e : j) deepest = std::max(deepest, depth_of(e));
    return j.is_structured() ? deepest + 1 : 0;
}

// `limits`: the server's (serve/version_repository.cpp): labels.json 1 MiB and 2 levels, signature.json 1 MiB and 8.
template <class Json>
void check(std::string_view text, const char * what, dl::JsonLimits limits) {
    const Json j = dl::parse_json_bounded<Json>(text, what, limits);
    if (depth_of(j) > limits.max_depth)
        dlctl_fuzz::finding("labels", fmt::format("{}: a document {} deep passed a limit of {}", what,
                                                  depth_of(j), limits.max_depth));
    // The server answers with these documents (metadata, status): dumping must not throw on what was read,
    // invalid UTF-8 included (replaced, as serve/serve_errors.h's dump does).
    const std::string dumped = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (j.is_object())
        for (const auto & [key, value] : j.items())
            if (value.is_number_unsigned()) (void)value.template get<int64_t>();
}

}  // namespace

DLCTL_FUZZ_TARGET(labels) {
    if (input.empty()) return;
    if (input[0] & 1)
        check<nlohmann::ordered_json>(input.substr(1), "signature.json",
                                      {.max_bytes = 1 << 20, .max_depth = 8});
    else
        check<nlohmann::json>(input.substr(1), "labels.json", {.max_bytes = 1 << 20, .max_depth = 2});
}
