// labels: the JSON files a model directory holds beside its versions and that `serve` and `package` read —
// labels.json ({"stable": 1, "canary": 2}) and signature.json — through the bounded parser every JSON goes
// through (core/json_limits.h), with the invariant that makes it a defence checked on every accepted
// document: nothing deeper than the limit ever reaches recursive code.
//   byte 0: bit 0 signature.json (ordered_json, as the server keeps it) rather than labels.json (json)
// labels.json also goes through dl::parse_labels (io/model_labels.h), the one parser serve and the release
// verbs share: whatever it accepts renders back to text it reads as the same labels.
// Note: the signature parser is still internal to serve/version_repository.cpp (load_version) and
// oci/image_layout.cpp (read_exported_version); once it is exposed, this target calls it too (fuzz/README.md).
#include "core/error.h"
#include "core/json_limits.h"
#include "harness.h"
#include "io/model_labels.h"

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
    if (input[0] & 1) return;
    // bit 1: parsed against earlier labels ({"stable": 1, "canary": 2}), which turns on the typo check
    const dl::LabelSet earlier{.versions = {{"stable", 1}, {"canary", 2}}};
    dl::LabelSet labels;
    try {
        labels = dl::parse_labels(input.substr(1), "labels.json", (input[0] & 2) ? &earlier : nullptr);
    } catch (const dl::Error &) {
        return;  // refused, with a reason: what a bad file must get
    }
    const dl::LabelSet again = dl::parse_labels(dl::render_labels(labels), "rendered labels.json");
    if (!(again == labels))
        dlctl_fuzz::finding("labels", "labels.json accepted, rendered, and read back as other labels");
}
