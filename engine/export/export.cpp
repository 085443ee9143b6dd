#include "export/export.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>

#include "core/fs.h"
#include "core/hash.h"
#include "core/version.h"
#include "io/h5file.h"
#include "io/runs.h"
#include "passes/passes.h"

namespace dl {

namespace fs = std::filesystem;

namespace {

std::string json_array(const std::vector<std::string> & v) { return nlohmann::json(v).dump(); }

H5Content pack_bundle(const TrainedModel & m, const nlohmann::json & meta) {
    H5Content c;
    for (const std::string & name : m.params.names()) c.tensors["params/" + name] = m.params.at(name);
    const Normalizer & norm = m.normalizer;
    Tensor offset(Shape{static_cast<int64_t>(norm.offset.size())}), scale(offset.shape());
    std::copy(norm.offset.begin(), norm.offset.end(), offset.f32());
    std::copy(norm.scale.begin(), norm.scale.end(), scale.f32());
    c.tensors["normalization/offset"] = offset;
    c.tensors["normalization/scale"] = scale;
    c.ints["state/epoch"] = m.epoch;
    c.attrs["format"] = "dlctl-bundle/2";  // 2: the integrity header (Note [h5 integrity])
    c.attrs["dlctl_version"] = DLCTL_VERSION;
    c.attrs["name"] = m.run.name;
    c.attrs["version"] = std::to_string(m.run.version);
    c.attrs["spec"] = portable_spec_yaml(m.spec);  // no host paths inside an image (Note [portable spec])
    c.attrs["data_sha256"] = meta.value("data_sha256", "");
    c.attrs["classes"] = json_array(m.classes);
    c.attrs["features"] = json_array(m.features);
    c.attrs["sample_shape"] = nlohmann::json(m.info.sample_shape).dump();
    c.attrs["targets"] = json_array(m.targets);
    c.attrs["normalization"] = norm.method;
    c.attrs["metrics"] = meta.value("metrics", nlohmann::json::object()).dump();
    // The inference graph the spec builds (batch 1, after the passes), for people and tools reading the
    // bundle; loading rebuilds it from the spec so that any batch size gets its own planned graph.
    ParamStore params = m.params;
    Graph g = build_model_graph(m.spec, m.info, 1, GraphMode::predict, params);
    run_passes(g);
    c.attrs["graph"] = g.dump();
    return c;
}

// Swaps `tmp` into `target`'s place in one step (renameat2 RENAME_EXCHANGE when `target` exists), then
// removes what was there: readers see the old version or the new one, never neither or half of one.
void publish_directory(const std::string & tmp, const std::string & target) {
    std::error_code ec;
    if (fs::exists(target, ec)) {
#ifdef SYS_renameat2
        constexpr unsigned kExchange = 2;  // RENAME_EXCHANGE
        if (::syscall(SYS_renameat2, AT_FDCWD, tmp.c_str(), AT_FDCWD, target.c_str(), kExchange) == 0) {
            fs::remove_all(tmp, ec);
            fsync_path(fs::path(target).parent_path().string());
            return;
        }
#endif
        const std::string old = tmp + ".old";
        fs::rename(target, old);
        fs::rename(tmp, target);
        fs::remove_all(old, ec);
    } else {
        fs::rename(tmp, target);
    }
    fsync_path(fs::path(target).parent_path().string());
}

}  // namespace

const std::vector<std::string> & export_formats() {
    static const std::vector<std::string> formats = {"native", "onnx", "keras"};
    return formats;
}

ExportResult export_version(const TrainedModel & trained, const nlohmann::json & meta,
                            const std::string & out_root, const std::vector<std::string> & formats,
                            bool skip_unsupported) {
    // The spec's source locations (in the bundle's graph, in ONNX doc strings) named the checkpoint it was
    // read from on this machine: what is exported names "spec.yaml" instead (Note [portable spec]).
    TrainedModel m = trained;
    m.spec = parse_spec(portable_spec_yaml(trained.spec), "spec.yaml", /*base_dir=*/"");
    const fs::path base = fs::absolute(out_root).lexically_normal() / m.run.name;
    const fs::path target = base / std::to_string(m.run.version);
    std::error_code ec;
    fs::create_directories(base, ec);
    if (ec) throw Error(ExitCode::io, fmt::format("{}: cannot create: {}", base.string(), ec.message()));
    remove_abandoned_temp_dirs(base.string());
    const std::string tmp = (base / temp_dir_name(m.run.version)).string();
    fs::remove_all(tmp, ec);
    fs::create_directory(tmp, ec);
    if (ec) throw Error(ExitCode::io, fmt::format("{}: cannot create: {}", tmp, ec.message()));
    ExportResult r{.path = target.string(), .name = m.run.name, .version = m.run.version};
    try {
        write_file_atomic(tmp + "/signature.json", make_signature(m, meta).dump(2) + "\n");
        for (const std::string & f : export_formats()) {
            if (std::find(formats.begin(), formats.end(), f) == formats.end()) continue;
            try {
                if (f == "native")
                    write_h5(tmp + "/dlctl.h5", pack_bundle(m, meta));
                else if (f == "onnx")
                    write_file_atomic(tmp + "/model.onnx", onnx_model_bytes(m));
                else if (f == "keras")
                    write_keras_h5(tmp + "/model.h5", m);
            } catch (const Error & e) {
                if (!skip_unsupported || e.code() != ExitCode::bad_input) throw;
                r.skipped.emplace_back(f, e.what());
                continue;
            }
            r.formats.push_back(f);
        }
        fsync_path(tmp);
        publish_directory(tmp, target.string());
    } catch (const fs::filesystem_error & e) {  // a full or read-only disk while renaming: an I/O error
        fs::remove_all(tmp, ec);
        throw Error(ExitCode::io, fmt::format("{}: {}", e.path1().string(), e.code().message()));
    } catch (...) {
        fs::remove_all(tmp, ec);
        throw;
    }
    return r;
}

ExportResult export_model(const std::string & model, const std::string & runs_root,
                          const std::string & out_root, const std::vector<std::string> & formats) {
    const RunRef run = resolve_model(model, runs_root);
    const nlohmann::json meta = read_meta(run.dir);
    if (meta.value("status", "done") != "done")
        throw Error(ExitCode::usage,
                    fmt::format("{}@{} has not finished training (status '{}'); export a finished version",
                                run.name, run.version, meta.value("status", "")));
    const bool every = formats.empty();
    return export_version(load_trained(run), meta, out_root, every ? export_formats() : formats,
                          /*skip_unsupported=*/every);
}

}  // namespace dl
