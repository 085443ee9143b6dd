#include "train/checkpoint_state.h"

#include <nlohmann/json.hpp>

#include "model/trained_model.h"

namespace dl {

namespace {

std::string json_array(const std::vector<std::string> & v) { return nlohmann::json(v).dump(); }

void unpack_state(const H5Content & c, const std::vector<std::string> & metrics, LoopState & st) {
    auto i = [&](const char * k) { return c.ints.count(k) ? c.ints.at(k) : 0; };
    auto r = [&](const std::string & k) { return c.reals.count(k) ? c.reals.at(k) : NAN; };
    CallbackState & cb = st.callbacks;
    st.epoch = i("state/epoch");
    st.step = i("state/step");
    st.batch_in_epoch = i("state/batch_in_epoch");
    st.partial.samples = i("state/partial/samples");
    st.partial.loss = c.reals.count("state/partial/loss") ? c.reals.at("state/partial/loss") : 0.0;
    for (const std::string & m : metrics)
        st.partial.sums[m] = c.reals.count("state/partial/" + m) ? c.reals.at("state/partial/" + m) : 0.0;
    cb.plateau_factor = c.reals.count("state/plateau_factor") ? c.reals.at("state/plateau_factor") : 1.0;
    cb.plateau_best = r("state/plateau_best");
    cb.plateau_wait = i("state/plateau_wait");
    cb.early_best = r("state/early_best");
    cb.early_wait = i("state/early_wait");
    cb.best_epoch = i("state/best_epoch");
    cb.keep_best_value = r("state/keep_best_value");
    cb.stopped_early = i("state/stopped_early") != 0;
}

}  // namespace

H5Content pack_checkpoint(const Spec & spec, const std::string & spec_yaml, const RunRef & run,
                          ParamStore & params, Optimizer & opt, const Normalizer & norm, const Table & table,
                          const LoopState & st) {
    H5Content c;
    params.download_from_device();
    opt.download_slots();
    for (const std::string & name : params.names()) c.tensors["params/" + name] = params.at(name);
    for (auto & [name, t] : opt.slots()) c.tensors["optimizer/" + name] = t;
    for (auto & [name, t] : st.callbacks.best_params) c.tensors["best/" + name] = t;
    Tensor offset(Shape{static_cast<int64_t>(norm.offset.size())}), scale(offset.shape());
    std::copy(norm.offset.begin(), norm.offset.end(), offset.f32());
    std::copy(norm.scale.begin(), norm.scale.end(), scale.f32());
    c.tensors["normalization/offset"] = offset;
    c.tensors["normalization/scale"] = scale;
    c.ints["optimizer/iterations"] = opt.iterations();
    c.ints["state/seed"] = static_cast<int64_t>(spec.seed);
    c.ints["state/epoch"] = st.epoch;
    c.ints["state/step"] = st.step;
    c.ints["state/batch_in_epoch"] = st.batch_in_epoch;
    c.ints["state/partial/samples"] = st.partial.samples;
    c.reals["state/partial/loss"] = st.partial.loss;
    for (auto & [name, v] : st.partial.sums) c.reals["state/partial/" + name] = v;
    const CallbackState & cb = st.callbacks;
    c.reals["state/plateau_factor"] = cb.plateau_factor;
    c.reals["state/plateau_best"] = cb.plateau_best;
    c.ints["state/plateau_wait"] = cb.plateau_wait;
    c.reals["state/early_best"] = cb.early_best;
    c.ints["state/early_wait"] = cb.early_wait;
    c.ints["state/best_epoch"] = cb.best_epoch;
    c.reals["state/keep_best_value"] = cb.keep_best_value;
    c.ints["state/stopped_early"] = cb.stopped_early ? 1 : 0;
    c.attrs["format"] = "dlctl-checkpoint/2";  // 2: the integrity header (Note [h5 integrity])
    c.attrs["data_sha256"] = table.sha256;
    c.attrs["dlctl_version"] = DLCTL_VERSION;
    c.attrs["name"] = run.name;
    c.attrs["version"] = std::to_string(run.version);
    c.attrs["spec"] = spec_yaml;
    c.attrs["classes"] = json_array(table.class_names);
    c.attrs["features"] = json_array(table.feature_names);
    c.attrs["sample_shape"] = nlohmann::json(table.sample_shape).dump();
    c.attrs["targets"] = json_array(table.target_names);
    c.attrs["normalization"] = norm.method;
    return c;
}

void restore_checkpoint(const H5Content & c, const std::string & path, const Spec & spec,
                        const std::vector<std::string> & spec_texts, ParamStore & params, Optimizer & opt,
                        LoopState & st) {
    const auto saved_spec = c.attrs.find("spec");
    DL_CHECK(saved_spec != c.attrs.end() &&
                 std::find(spec_texts.begin(), spec_texts.end(), saved_spec->second) != spec_texts.end(),
             ExitCode::bad_input, "{}: written for another spec than this run's", path);
    auto has_int = [&](const char * key) { return c.ints.count(key) > 0; };
    DL_CHECK(has_int("optimizer/iterations") && has_int("state/epoch") && has_int("state/step"),
             ExitCode::bad_input, "{}: the training state is missing", path);
    DL_CHECK(!has_int("state/seed") || c.ints.at("state/seed") == static_cast<int64_t>(spec.seed),
             ExitCode::bad_input, "{}: written with seed {}, the run has seed {}", path,
             c.ints.at("state/seed"), spec.seed);
    const int64_t epoch = c.ints.at("state/epoch");
    DL_CHECK(epoch >= 0 && epoch <= spec.train.epochs && c.ints.at("state/step") >= 0, ExitCode::bad_input,
             "{}: epoch {} is outside this run's {} epochs", path, epoch, spec.train.epochs);
    auto saved = [&](const std::string & key, const Tensor & like) -> const Tensor & {
        const auto it = c.tensors.find(key);
        DL_CHECK(it != c.tensors.end(), ExitCode::bad_input, "{}: {} is missing", path, key);
        DL_CHECK(it->second.shape() == like.shape(), ExitCode::bad_input, "{}: {} has shape {}, the model {}",
                 path, key, to_string(it->second.shape()), to_string(like.shape()));
        return it->second;
    };
    for (const std::string & name : params.names()) saved("params/" + name, params.at(name));
    for (auto & [name, t] : opt.slots()) saved("optimizer/" + name, t);
    for (auto & [name, t] : c.tensors)
        if (name.rfind("best/", 0) == 0) {
            const std::string param = name.substr(5);
            DL_CHECK(params.has(param), ExitCode::bad_input, "{}: {} is not a parameter of the model", path,
                     name);
            saved(name, params.at(param));
        }

    for (const std::string & name : params.names())
        copy_checkpoint_tensor(params.at(name), c.tensors.at("params/" + name), name);
    for (auto & [name, t] : opt.slots()) copy_checkpoint_tensor(t, c.tensors.at("optimizer/" + name), name);
    st.callbacks.best_params.clear();
    for (auto & [name, t] : c.tensors)
        if (name.rfind("best/", 0) == 0) st.callbacks.best_params[name.substr(5)] = t;
    opt.set_iterations(c.ints.at("optimizer/iterations"));
    params.upload_to_device();
    opt.upload_slots();
    unpack_state(c, spec.train.metrics, st);
}

}  // namespace dl
