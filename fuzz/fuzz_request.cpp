// request: what a client sends to be predicted -> the rows the model gets (engine/infer/instances.*), against
// two fixed models: a tabular one (features crim, zn, rm) and an image one (samples of shape [2, 2]).
//   byte 0: bit 0 the image model | bits 1-2 what the rest is:
//     0, 3: a `serve` request body (TF Serving's {"instances": [...]} or {"inputs": [...]}), parsed with the
//           server's JSON limits, each instance through instance_to_row as the server does;
//     1:    a `dlctl predict --input FILE.jsonl` file (one instance per line);
//     2:    a `dlctl predict --input FILE.csv` file.
// The HTTP framing in front of the body (request line, headers, Content-Length, chunks) is the http_request
// target's (fuzz/README.md).
#include <vector>

#include "core/json_limits.h"
#include "harness.h"
#include "infer/instances.h"
#include "model/bundle.h"

namespace {

dl::TrainedModel make_model(bool image) {
    dl::TrainedModel m;
    m.run.name = image ? "digits" : "housing";
    m.info.sample_shape = image ? std::vector<int64_t>{2, 2} : std::vector<int64_t>{3};
    m.info.features = image ? 4 : 3;
    m.info.targets = 1;
    if (!image) m.features = {"crim", "zn", "rm"};
    m.targets = {"y"};
    return m;
}

// As `serve` (serve/http_api.cpp, serve/request_body.cpp) turns a body into rows: an object with "instances" (rows) or "inputs" (a
// batch of rows).
void body_to_rows(std::string_view body, const dl::TrainedModel & m) {
    std::string text(body);
    dl::rewrite_nonfinite_literals(text);  // NaN, Infinity: as TF Serving takes them
    const nlohmann::json j =
        dl::parse_json_bounded(text, "request body", {.max_depth = dl::kMaxInstanceDepth});
    if (!j.is_object()) return;
    const auto it = j.contains("instances") ? j.find("instances") : j.find("inputs");
    if (it == j.end()) return;
    const nlohmann::json & batch =
        it->is_object() && it->contains(dl::kInputName) ? (*it)[dl::kInputName] : *it;
    if (!batch.is_array()) return;
    std::vector<float> rows(batch.size() * static_cast<size_t>(m.info.features));
    std::string why;
    for (size_t i = 0; i < batch.size(); ++i)
        if (!dl::instance_to_row(batch[i], m, rows.data() + i * static_cast<size_t>(m.info.features), why))
            return;
}

}  // namespace

DLCTL_FUZZ_TARGET(request) {
    if (input.empty()) return;
    static const dl::TrainedModel tabular = make_model(false), image = make_model(true);
    const unsigned flags = static_cast<unsigned char>(input[0]);
    const dl::TrainedModel & m = (flags & 1) ? image : tabular;
    const std::string_view rest = input.substr(1);
    switch ((flags >> 1) & 3) {
        case 1:
            dl::read_input_rows(dlctl_fuzz::scratch_file("rows.jsonl", rest), "jsonl", m);
            break;
        case 2:
            dl::read_input_rows(dlctl_fuzz::scratch_file("rows.csv", rest), "csv", m);
            break;
        default:
            body_to_rows(rest, m);
    }
}
