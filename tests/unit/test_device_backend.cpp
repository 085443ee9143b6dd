// The device-memory path of the executor and the trainer (Note [device memory]), proven without a GPU: a
// backend that computes with the CPU kernels but only in memory it allocated itself, and refuses any kernel
// whose buffers are not its own. Training on it must reproduce training on the CPU: inputs uploaded,
// host-read outputs downloaded, gradients, moving statistics and the optimizer update kept in backend memory,
// parameters and slots downloaded for checkpoints, the best weights downloaded and uploaded again.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "io/h5file.h"
#include "io/runs.h"
#include "model/session.h"
#include "model/trained_model.h"
#include "optim/optimizer.h"
#include "train/trainer.h"

namespace {

const std::string kSource = DLCTL_SOURCE_DIR;

class StagedBackend final : public dl::Backend {
public:
    ~StagedBackend() override { CHECK(blocks_.empty()); }  // everything allocated was given back
    const char * name() const override { return "staged"; }
    bool supports(const dl::Node & n) const override { return n.def->cpu != nullptr; }
    bool host_memory() const override { return false; }

    void run(dl::KernelCtx & k) override {
        for (const dl::TensorView & v : k.inputs) require_own(v, k.node.op);
        require_own(k.output, k.node.op);
        k.node.def->cpu(k);
        ++kernels_run;
    }
    void * allocate(size_t bytes) override {
        void * p = dl::Backend::allocate(bytes);
        blocks_[static_cast<std::byte *>(p)] = bytes;
        return p;
    }
    void deallocate(void * p) override {
        REQUIRE(blocks_.erase(static_cast<std::byte *>(p)) == 1);
        dl::Backend::deallocate(p);
    }
    void upload(void * to, const void * host, size_t bytes) override {
        require_own_range(to, bytes, "upload");
        dl::Backend::upload(to, host, bytes);
        ++uploads;
    }
    void download(void * host, const void * from, size_t bytes) override {
        require_own_range(from, bytes, "download");
        dl::Backend::download(host, from, bytes);
        ++downloads;
    }
    void copy(void * to, const void * from, size_t bytes) override {
        require_own_range(to, bytes, "copy");
        require_own_range(from, bytes, "copy");
        dl::Backend::copy(to, from, bytes);
    }
    void run_step(const void * key, const dl::StepValues & values,
                  const std::function<void()> & launches) override {
        steps_by_key[key]++;
        dl::Backend::run_step(key, values, launches);
    }
    // The host optimizer's arithmetic, on this backend's memory, with lr and t from the step's values.
    void optimizer_update(const dl::OptimizerUpdate & u) override {
        double sumsq = 0;
        for (const dl::OptimizerTensor & t : u.tensors) {
            require_own_range(t.grad, static_cast<size_t>(t.size) * 4, "optimizer gradient");
            require_own_range(t.param, static_cast<size_t>(t.size) * 4, "optimizer parameter");
            for (int64_t i = 0; i < t.size; ++i) sumsq += static_cast<double>(t.grad[i]) * t.grad[i];
        }
        const double norm = std::sqrt(sumsq);
        *u.norm_out = static_cast<float>(norm);
        if (!std::isfinite(norm)) return;
        const double limit = u.rule.clip_global_norm;
        const float scale = limit > 0 && norm > limit ? static_cast<float>(limit / norm) : 1.0f;
        for (const dl::OptimizerTensor & t : u.tensors)
            dl::update_range(u.rule, t, 0, t.size, scale, step_values().lr,
                             static_cast<double>(step_values().t));
        ++optimizer_updates;
    }

    int64_t kernels_run = 0, uploads = 0, downloads = 0, optimizer_updates = 0;
    std::map<const void *, int64_t> steps_by_key;

private:
    void require_own_range(const void * p, size_t bytes, const std::string & what) const {
        const auto * b = static_cast<const std::byte *>(p);
        auto it = blocks_.upper_bound(const_cast<std::byte *>(b));
        const bool own = it != blocks_.begin() && b + bytes <= std::prev(it)->first + std::prev(it)->second;
        if (!own) FAIL_CHECK(what << ": a host pointer reached the device backend");
        REQUIRE(own);
    }
    void require_own(const dl::TensorView & v, const std::string & op) const {
        require_own_range(v.data, v.numel() * (v.dtype == dl::DType::i64 ? 8 : 4), "kernel " + op);
    }
    std::map<std::byte *, size_t> blocks_;
};

class LossLog final : public dl::TrainObserver {
public:
    void on_batch(int64_t, int64_t, int64_t, double loss) override { losses.push_back(loss); }
    std::vector<double> losses;
};

std::string scratch(const char * name) {
    const auto dir =
        std::filesystem::temp_directory_path() / fmt::format("dlctl-device-{}-{}", name, getpid());
    std::filesystem::remove_all(dir);
    return dir.string();
}

struct Trained {
    std::vector<double> losses;
    dl::H5Content checkpoint;
    nlohmann::ordered_json metrics;
};

Trained train_on(dl::Backend * backend, const std::string & spec, std::vector<std::string> sets,
                 const char * name) {
    const std::string runs = scratch(name);
    LossLog log;
    dl::TrainOptions o{.spec_path = kSource + "/" + spec,
                       .overrides = sets,
                       .runs_flag = runs,
                       .threads = 1,
                       .backend = backend};
    const dl::TrainResult r = dl::train(o, log);
    Trained t{.losses = log.losses, .checkpoint = dl::read_h5(r.checkpoint), .metrics = r.metrics};
    std::filesystem::remove_all(runs);
    return t;
}

void check_same_training(const Trained & cpu, const Trained & staged) {
    REQUIRE(cpu.losses.size() == staged.losses.size());
    for (size_t i = 0; i < cpu.losses.size(); ++i)
        CHECK(staged.losses[i] == doctest::Approx(cpu.losses[i]).epsilon(1e-5));
    for (const auto & [name, t] : cpu.checkpoint.tensors) {
        if (!name.starts_with("params/") && !name.starts_with("optimizer/")) continue;
        const dl::Tensor & s = staged.checkpoint.tensors.at(name);
        REQUIRE(s.numel() == t.numel());
        double worst = 0;
        for (int64_t i = 0; i < t.numel(); ++i)
            worst = std::max(worst, std::fabs(static_cast<double>(s.f32()[i]) - t.f32()[i]) /
                                        std::max(1e-3, std::fabs(static_cast<double>(t.f32()[i]))));
        INFO(name);
        CHECK(worst < 1e-4);
    }
}

}  // namespace

TEST_CASE("training on a device-memory backend matches the CPU: housing (Adam)") {
    const std::vector<std::string> sets = {"train.epochs=3"};
    const Trained cpu = train_on(nullptr, "configs/housing.yaml", sets, "housing-cpu");
    StagedBackend staged;
    const Trained dev = train_on(&staged, "configs/housing.yaml", sets, "housing-staged");
    check_same_training(cpu, dev);
    CHECK(staged.optimizer_updates == static_cast<int64_t>(dev.losses.size()));
    CHECK(staged.kernels_run > 0);
    // One step per batch went through run_step, keyed by the executor (full batches and the last partial
    // one).
    int64_t steps = 0;
    for (auto & [key, n] : staged.steps_by_key) steps += n;
    CHECK(steps >= static_cast<int64_t>(dev.losses.size()));
    // Both sets of input buffers took turns (Note [double buffers]): one recording per set.
    CHECK(staged.steps_by_key.size() >= 2);
}

TEST_CASE(
    "training on a device-memory backend matches the CPU: dropout, SGD with momentum, best weights "
    "restored") {
    // wine has dropout (its draws come from seed and step); restoring the best weights downloads them when
    // they improve and uploads them again at the end.
    const std::vector<std::string> sets = {
        "train.epochs=4", "train.optimizer={type: sgd, lr: 0.05, momentum: 0.9}",
        "train.early_stopping={monitor: val_loss, patience: 100, restore_best: true}"};
    const Trained cpu = train_on(nullptr, "configs/wine.yaml", sets, "wine-cpu");
    StagedBackend staged;
    const Trained dev = train_on(&staged, "configs/wine.yaml", sets, "wine-staged");
    check_same_training(cpu, dev);
    CHECK(dev.metrics.dump() == cpu.metrics.dump());
}

TEST_CASE(
    "a checkpoint written from a device-memory backend loads on the CPU and scores what the device scored") {
    const std::string runs = scratch("handover");
    StagedBackend staged;
    LossLog log;
    const dl::TrainResult r = dl::train({.spec_path = kSource + "/configs/housing.yaml",
                                         .overrides = {"train.epochs=2"},
                                         .runs_flag = runs,
                                         .threads = 1,
                                         .backend = &staged},
                                        log);
    REQUIRE(r.metrics.contains("test_loss"));
    // The CPU's reading of the same checkpoint, on the same held-out rows.
    dl::TrainedModel m = dl::load_trained(dl::resolve_model(r.run_dir, runs));
    const dl::Table t = dl::load_table_for(m, "");
    const dl::Splits s = dl::make_splits(t.rows(), m.spec.data, m.spec.seed, t.test_start);
    dl::ModelSession cpu(m.spec, m.info, m.params, 1);
    const double cpu_loss = cpu.evaluate(t, s.test).means().at("loss");
    CHECK(cpu_loss == doctest::Approx(r.metrics["test_loss"].get<double>()).epsilon(1e-5));
    std::filesystem::remove_all(runs);
}
