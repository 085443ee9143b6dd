#include "model/bundle.h"

#include <filesystem>

#include "core/fs.h"
#include "core/hash.h"
#include "core/version.h"

namespace dl {

namespace fs = std::filesystem;

std::vector<std::string> output_names(const TrainedModel & model) {
    if (model.info.classification) return {"probabilities", "label"};
    return {"prediction"};
}

nlohmann::ordered_json make_signature(const TrainedModel & m, const nlohmann::json & meta) {
    nlohmann::ordered_json s;
    s["name"] = m.run.name;
    s["version"] = m.run.version;
    s["kind"] = m.info.classification ? "classification" : "regression";
    nlohmann::ordered_json in;
    in["name"] = kInputName;
    in["dtype"] = "float32";
    std::vector<int64_t> shape = {-1};
    shape.insert(shape.end(), m.info.sample_shape.begin(), m.info.sample_shape.end());
    in["shape"] = shape;
    if (!m.features.empty()) in["features"] = m.features;
    in["rescale"] = m.spec.data.rescale;  // applied first, then the normalisation: both are part of the graph
    in["normalization"] = m.normalizer.method;
    s["inputs"] = nlohmann::ordered_json::array({in});
    nlohmann::ordered_json outs = nlohmann::ordered_json::array();
    if (m.info.classification) {
        outs.push_back({{"name", "probabilities"}, {"dtype", "float32"}, {"shape", {-1, m.info.classes}}});
        outs.push_back({{"name", "label"}, {"dtype", "string"}, {"shape", {-1}}});
    } else {
        outs.push_back({{"name", "prediction"}, {"dtype", "float32"}, {"shape", {-1, m.info.targets}}});
    }
    s["outputs"] = outs;
    s["targets"] = m.targets;
    if (m.info.classification) s["labels"] = m.classes;
    s["metrics"] = meta.value("metrics", nlohmann::json::object());
    s["spec_sha256"] =
        meta.contains("spec_sha256") ? meta["spec_sha256"].get<std::string>() : sha256_hex(m.spec_yaml);
    s["dlctl_version"] = DLCTL_VERSION;
    return s;
}

TrainedModel load_bundle(const std::string & dir_or_file) {
    std::error_code ec;
    const std::string path = fs::is_directory(dir_or_file, ec) ? dir_or_file + "/dlctl.h5" : dir_or_file;
    if (!file_exists(path))
        throw Error(ExitCode::missing_input,
                    fmt::format("{}: no dlctl.h5 (export the version with --format native)", dir_or_file));
    TrainedModel m = load_trained_file(path);
    m.run.dir = fs::absolute(fs::path(path).parent_path()).lexically_normal().string();
    return m;
}

}  // namespace dl
