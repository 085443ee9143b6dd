// spec: YAML text -> spec -> model graph, what `dlctl validate` does before it reads the data (and what every
// checkpoint load does with its saved spec). The data is not read: the sample shape is the spec's model.input
// (or 4 feature columns), so the fuzzer spends its time in the YAML reader, the schema and the shape checks.
#include "harness.h"
#include "model/model.h"
#include "spec/spec.h"

DLCTL_FUZZ_TARGET(spec) {
    const std::string yaml(input);
    // An empty base_dir marks a saved spec: data files are named but need not exist.
    const dl::Spec spec = dl::parse_spec(yaml, "fuzz.yaml", /*base_dir=*/"");
    const std::vector<int64_t> sample_shape =
        spec.model.input.empty() ? std::vector<int64_t>{4} : spec.model.input;
    const int64_t targets = std::max<int64_t>(1, static_cast<int64_t>(spec.data.targets.size()));
    const dl::DataInfo info = dl::data_info_for(spec, sample_shape, targets, /*classes=*/3);
    dl::ParamStore params;
    dl::build_model_graph(spec, info, 1, dl::GraphMode::train, params);
    // A resolved spec is saved beside every model and parsed again by eval, export and serve: what was
    // accepted once must be accepted from its rendering.
    const std::string rendered = dl::render_spec(spec);
    try {
        dl::parse_spec(rendered, "rendered.yaml", "");
    } catch (const dl::Error & e) {
        dlctl_fuzz::finding(
            "spec",
            fmt::format("the rendered spec does not parse again: {}\n--- rendered:\n{}", e.what(), rendered));
    }
}
