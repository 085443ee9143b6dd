#include "model/trained_model.h"

#include <charconv>
#include <filesystem>

#include "core/fs.h"
#include "core/json_limits.h"
#include "io/h5file.h"

namespace dl {

namespace fs = std::filesystem;

void copy_checkpoint_tensor(Tensor & dst, const Tensor & src, const std::string & what) {
    DL_CHECK(dst.shape() == src.shape(), ExitCode::bad_input,
             "{}: shape {} in the checkpoint, {} in the model", what, to_string(src.shape()),
             to_string(dst.shape()));
    std::copy(src.f32(), src.f32() + src.numel(), dst.f32());
}

TrainedModel load_trained(const RunRef & run) {
    TrainedModel m = load_trained_file(model_file_of(run));
    m.run = run;
    // Checkpoints and exports name the data relative to the spec (Note [portable spec]); the run's spec.yaml,
    // which never leaves this machine, knows where it is.
    const std::string local_spec = (run.exported ? run.trained_in : run.dir) + "/spec.yaml";
    if ((!run.exported || !run.trained_in.empty()) && file_exists(local_spec)) {
        const Spec local = parse_spec(read_file(local_spec), local_spec, /*base_dir=*/"");
        if (local.data.format == m.spec.data.format) {
            m.spec.data.path = local.data.path;
            m.spec.data.images.path = local.data.images.path;
            m.spec.data.labels.path = local.data.labels.path;
            m.spec.data.test_images.path = local.data.test_images.path;
            m.spec.data.test_labels.path = local.data.test_labels.path;
        }
    }
    return m;
}

std::string portable_spec_yaml(const Spec & spec) {
    // Note [portable spec]: a data file as the spec names it (relative to the spec file), or its bare file
    // name when the spec gave an absolute path: the host's folders never travel inside a checkpoint or an
    // image.
    auto portable = [](const std::string & as_written, const std::string & resolved) {
        const std::string & given = as_written.empty() ? resolved : as_written;
        const fs::path p(given);
        return p.is_absolute() ? p.filename().string() : given;
    };
    Spec s = spec;
    if (!s.data.path.empty()) s.data.path = portable(s.data.path_as_written, s.data.path);
    for (DataFile * f : {&s.data.images, &s.data.labels, &s.data.test_images, &s.data.test_labels})
        if (f->given()) f->path = portable(f->as_written, f->path);
    return render_spec(s);
}

namespace {

std::vector<std::string> json_strings(const std::string & text, const std::string & what) {
    const nlohmann::json j = parse_json_bounded(text, what, {.max_bytes = text.size(), .max_depth = 2});
    DL_CHECK(j.is_array(), ExitCode::bad_input, "{}: not a JSON array", what);
    std::vector<std::string> out;
    for (const auto & v : j) {
        DL_CHECK(v.is_string(), ExitCode::bad_input, "{}: not an array of strings", what);
        out.push_back(v.get<std::string>());
    }
    return out;
}

TrainedModel unpack_trained(const H5Content & c, const std::string & path) {
    TrainedModel m;
    auto attr = [&](const char * k) -> const std::string & {
        auto it = c.attrs.find(k);
        DL_CHECK(it != c.attrs.end(), ExitCode::bad_input, "{}: not a dlctl checkpoint (no '{}' attribute)",
                 path, k);
        return it->second;
    };
    auto tensor = [&](const char * k) -> const Tensor & {
        auto it = c.tensors.find(k);
        DL_CHECK(it != c.tensors.end(), ExitCode::bad_input, "{}: not a dlctl checkpoint (no '{}' dataset)",
                 path, k);
        return it->second;
    };
    m.run.name = attr("name");
    {
        const std::string & v = attr("version");
        const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), m.run.version);
        DL_CHECK(ec == std::errc() && end == v.data() + v.size() && m.run.version >= 0, ExitCode::bad_input,
                 "{}: version attribute '{}' is not a version number", path, v.substr(0, 40));
    }
    m.spec_yaml = attr("spec");
    m.spec = parse_spec(m.spec_yaml, path + " (saved spec)", /*base_dir=*/"");  // data files need not exist
    const std::string where = path + ": attribute ";
    m.classes = json_strings(attr("classes"), where + "classes");
    m.features = json_strings(attr("features"), where + "features");
    m.targets = json_strings(attr("targets"), where + "targets");
    std::vector<int64_t> sample_shape;
    {
        const std::string & text = attr("sample_shape");
        const nlohmann::json j =
            parse_json_bounded(text, where + "sample_shape", {.max_bytes = text.size(), .max_depth = 1});
        DL_CHECK(j.is_array() && !j.empty() && j.size() <= 8, ExitCode::bad_input,
                 "{}sample_shape: not a shape", where);
        int64_t numel = 1;
        for (const auto & d : j) {
            DL_CHECK(d.is_number_integer() && d.get<int64_t>() > 0 && d.get<int64_t>() <= (int64_t{1} << 24),
                     ExitCode::bad_input, "{}sample_shape: not a shape", where);
            sample_shape.push_back(d.get<int64_t>());
            numel *= sample_shape.back();
            DL_CHECK(numel <= (int64_t{1} << 28), ExitCode::bad_input, "{}sample_shape: too large", where);
        }
    }
    m.normalizer.method = attr("normalization");
    DL_CHECK(
        m.normalizer.method == "none" || m.normalizer.method == "standard" || m.normalizer.method == "minmax",
        ExitCode::bad_input, "{}: unknown normalization '{}'", path, m.normalizer.method.substr(0, 40));
    const Tensor & off = tensor("normalization/offset");
    const Tensor & sc = tensor("normalization/scale");
    m.normalizer.offset.assign(off.f32(), off.f32() + off.numel());
    m.normalizer.scale.assign(sc.f32(), sc.f32() + sc.numel());
    DL_CHECK(!m.targets.empty(), ExitCode::bad_input, "{}: no target columns", path);
    m.info = data_info_for(m.spec, sample_shape, static_cast<int64_t>(m.targets.size()),
                           static_cast<int64_t>(m.classes.size()));
    // What prediction indexes by feature must have one entry per feature.
    DL_CHECK(m.features.empty() || static_cast<int64_t>(m.features.size()) == m.info.features,
             ExitCode::bad_input, "{}: {} feature names for {} features", path, m.features.size(),
             m.info.features);
    DL_CHECK(off.numel() == sc.numel() && (m.normalizer.method == "none" || off.numel() == m.info.features),
             ExitCode::bad_input, "{}: normalisation statistics for {} features, the model takes {}", path,
             off.numel(), m.info.features);
    m.epoch = c.ints.count("state/epoch") ? c.ints.at("state/epoch") : 0;
    // Build once to create the parameters with the right shapes, then load them.
    build_model_graph(m.spec, m.info, 1, GraphMode::predict, m.params);
    for (const std::string & name : m.params.names()) {
        auto it = c.tensors.find("params/" + name);
        DL_CHECK(it != c.tensors.end(), ExitCode::bad_input, "{}: parameter '{}' is missing", path, name);
        copy_checkpoint_tensor(m.params.at(name), it->second, path + ": parameter " + name);
    }
    return m;
}

}  // namespace

TrainedModel load_trained_file(const std::string & path) {
    const H5Content c = read_h5(path);
    // Whatever goes wrong past the checksum is the file's fault and is reported with its name: exit 65, never
    // an internal error.
    try {
        return unpack_trained(c, path);
    } catch (const Error & e) {
        const std::string what = e.what();
        if (what.find(path) != std::string::npos) throw;
        throw Error(e.code() == ExitCode::internal ? ExitCode::bad_input : e.code(),
                    fmt::format("{}: {}", path, what));
    } catch (const std::bad_alloc &) {
        throw Error(ExitCode::bad_input,
                    fmt::format("{}: the model it describes is too large to load", path));
    } catch (const std::exception & e) {
        throw Error(ExitCode::bad_input,
                    fmt::format("{}: not a usable dlctl checkpoint: {}", path, e.what()));
    }
}

Table load_table_for(const TrainedModel & m, const std::string & data_path_override) {
    return load_table_for(m, m.spec.data, data_path_override);
}

Table load_table_for(const TrainedModel & m, const DataSpec & data_spec,
                     const std::string & data_path_override) {
    DataSpec data = data_spec;
    if (!data_path_override.empty() && data.format != "csv")
        throw Error(ExitCode::usage,
                    fmt::format("--data takes a CSV file; {}@{} was trained on {} data: use --split",
                                m.run.name, m.run.version, data.format));
    if (!data_path_override.empty()) {
        data.path = fs::absolute(data_path_override).string();
        data.path_as_written = data_path_override;
        if (!file_exists(data.path))
            throw Error(ExitCode::missing_input, fmt::format("{}: no such data file", data_path_override));
    } else {
        for (const std::string * path : {&data.path, &data.images.path, &data.labels.path,
                                         &data.test_images.path, &data.test_labels.path})
            if (!path->empty() && !file_exists(*path))
                throw Error(
                    ExitCode::missing_input,
                    fmt::format("{}: the model's data file is gone{}", *path,
                                m.run.exported && m.run.trained_in.empty()
                                    ? fmt::format(" ({} is an export whose run is not under the runs root: "
                                                  "give --data FILE, or --runs where it was trained)",
                                                  m.run.dir)
                                    : ""));
    }
    Table t = read_dataset(data, m.info.classification,
                           m.info.classification ? m.classes : std::vector<std::string>{});
    DL_CHECK(t.num_features() == m.info.features, ExitCode::bad_input,
             "{}: {} feature columns, the model takes {}", data.path_as_written, t.num_features(),
             m.info.features);
    // A CSV model takes its columns by position: the same count under other names would be scored silently
    // wrong (only possible when the data is another version's).
    DL_CHECK(m.features.empty() || t.feature_names.empty() || t.feature_names == m.features,
             ExitCode::bad_input, "{}: feature columns [{}] differ from the ones {}@{} was trained on ([{}])",
             data.path_as_written, fmt::format("{}", fmt::join(t.feature_names, ", ")), m.run.name,
             m.run.version, fmt::format("{}", fmt::join(m.features, ", ")));
    m.normalizer.apply(t);
    return t;
}

}  // namespace dl
