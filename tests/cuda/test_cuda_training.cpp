// The whole training step on the GPU (kernels, moving statistics, the fused optimizer, CUDA-graph replay)
// against the CPU: 100 steps of configs/fashion-mlp.yaml from the same initial weights, loss by loss. Stated
// tolerance: 2% relative per step over the first 100 steps (cuBLAS and Eigen add in different orders, and the
// differences grow as training goes), and the final parameters, read back from the GPU run's checkpoint,
// within 5% of each tensor's largest value. Skipped with a message without a GPU, or without the
// Fashion-MNIST files
// ($DLCTL_FASHION_DIR, else Debian's dataset-fashion-mnist).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "backend/backend.h"
#include "io/h5file.h"
#include "train/trainer.h"

namespace {

// The repository's root: where it was built, or $DLCTL_SOURCE_DIR (bench/gpu.sh, on another machine).
std::string source_dir() {
    const char * dir = std::getenv("DLCTL_SOURCE_DIR");
    return dir && *dir ? dir : DLCTL_SOURCE_DIR;
}

class LossLog final : public dl::TrainObserver {
public:
    void on_batch(int64_t, int64_t, int64_t, double loss) override { losses.push_back(loss); }
    std::vector<double> losses;
};

std::string fashion_dir() {
    const char * dir = std::getenv("DLCTL_FASHION_DIR");
    return dir && *dir ? dir : "/usr/share/datasets/fashion-mnist";
}

// The GPU, or the whole program is skipped (CTest's SKIP_RETURN_CODE); likewise without the data.
std::unique_ptr<dl::Backend> cuda_or_skip() {
    std::unique_ptr<dl::Backend> cuda;
    try {
        cuda = dl::make_backend("cuda");
    } catch (const dl::Error & e) {
        std::printf("SKIP: no GPU for the CUDA training test: %s\n", e.what());
        std::exit(77);
    }
    if (!std::filesystem::exists(fashion_dir() + "/train-images-idx3-ubyte.gz")) {
        std::printf("SKIP: no Fashion-MNIST files in %s\n", fashion_dir().c_str());
        std::exit(77);
    }
    return cuda;
}

std::vector<std::string> hundred_steps() {
    const std::string data = fashion_dir();
    return {"train.epochs=1",
            "train.steps_per_epoch=100",
            "data.images=" + data + "/train-images-idx3-ubyte.gz",
            "data.labels=" + data + "/train-labels-idx1-ubyte.gz",
            "data.test_images=" + data + "/t10k-images-idx3-ubyte.gz",
            "data.test_labels=" + data + "/t10k-labels-idx1-ubyte.gz"};
}

std::string runs_dir(const char * what) {
    return (std::filesystem::temp_directory_path() / fmt::format("dlctl-cuda-{}-{}", what, getpid()))
        .string();
}

// 100 fashion-mlp steps from the same initial weights in float32 on the CPU, then on the GPU with
// `gpu_overrides` added; their runs go to a folder of their own, removed with it.
struct BothDevices {
    LossLog cpu_log, gpu_log;
    dl::TrainResult cpu_run, gpu_run;
    std::string runs;
    ~BothDevices() { std::filesystem::remove_all(runs); }
};

std::unique_ptr<BothDevices> train_on_both(dl::Backend & cuda, const char * what,
                                           const std::vector<std::string> & gpu_overrides = {}) {
    auto both = std::make_unique<BothDevices>();
    both->runs = runs_dir(what);
    std::filesystem::remove_all(both->runs);
    const dl::TrainOptions base{.spec_path = source_dir() + "/configs/fashion-mlp.yaml",
                                .overrides = hundred_steps(),
                                .runs_flag = both->runs,
                                .threads = 4};
    both->cpu_run = dl::train(base, both->cpu_log);
    dl::TrainOptions on_gpu = base;
    on_gpu.overrides.insert(on_gpu.overrides.end(), gpu_overrides.begin(), gpu_overrides.end());
    on_gpu.backend = &cuda;
    both->gpu_run = dl::train(on_gpu, both->gpu_log);
    REQUIRE(both->cpu_log.losses.size() == 100);
    REQUIRE(both->gpu_log.losses.size() == 100);
    return both;
}

}  // namespace

TEST_CASE("fashion-mlp: 100 training steps on the GPU follow the CPU's loss curve") {
    const std::unique_ptr<dl::Backend> cuda = cuda_or_skip();
    const std::unique_ptr<BothDevices> both = train_on_both(*cuda, "train");
    const LossLog &cpu_log = both->cpu_log, &gpu_log = both->gpu_log;
    const dl::TrainResult &cpu_run = both->cpu_run, &gpu_run = both->gpu_run;
    double worst = 0;
    for (size_t i = 0; i < 100; ++i) {
        const double rel = std::fabs(gpu_log.losses[i] - cpu_log.losses[i]) / std::fabs(cpu_log.losses[i]);
        worst = std::max(worst, rel);
        CHECK(rel < 0.02);
    }
    MESSAGE("largest relative loss difference over 100 steps: " << worst);
    CHECK(gpu_log.losses.back() < gpu_log.losses.front() * 0.7);  // it learned

    // The final weights, compared relative to each tensor's spread.
    const dl::H5Content a = dl::read_h5(cpu_run.checkpoint), b = dl::read_h5(gpu_run.checkpoint);
    for (const auto & [name, t] : a.tensors) {
        if (!name.starts_with("params/")) continue;
        const dl::Tensor & u = b.tensors.at(name);
        double spread = 0, diff = 0;
        for (int64_t i = 0; i < t.numel(); ++i) {
            spread = std::max(spread, static_cast<double>(std::fabs(t.f32()[i])));
            diff = std::max(diff, static_cast<double>(std::fabs(t.f32()[i] - u.f32()[i])));
        }
        INFO(name);
        CHECK(diff <= 0.05 * spread);
    }
}

// train.precision bf16: the GEMMs read bfloat16 copies of activations and weights (the optimizer keeping the
// weights' copies), so the curve leaves the float32 one by more than rounding order. Stated tolerance, per
// step and over the mean of the last 10 steps: 10% and 3% of the CPU's loss, plus 1% and 0.5% of the first
// loss (on data that is learnt almost perfectly in 100 steps, late losses are too small to compare
// relatively).
TEST_CASE("fashion-mlp in bf16 on the GPU learns as float32 does on the CPU") {
    const std::unique_ptr<dl::Backend> cuda = cuda_or_skip();
    const std::unique_ptr<BothDevices> both = train_on_both(*cuda, "bf16", {"train.precision=bf16"});
    const LossLog &cpu_log = both->cpu_log, &gpu_log = both->gpu_log;
    const double first = cpu_log.losses.front();
    double worst = 0, cpu_tail = 0, gpu_tail = 0;
    for (size_t i = 0; i < 100; ++i) {
        const double diff = std::fabs(gpu_log.losses[i] - cpu_log.losses[i]);
        worst = std::max(worst, diff / (0.10 * cpu_log.losses[i] + 0.01 * first));
        INFO("step " << i << ": GPU " << gpu_log.losses[i] << ", CPU " << cpu_log.losses[i]);
        CHECK(diff <= 0.10 * cpu_log.losses[i] + 0.01 * first);
        if (i >= 90) {
            cpu_tail += cpu_log.losses[i] / 10;
            gpu_tail += gpu_log.losses[i] / 10;
        }
    }
    MESSAGE("bf16: largest loss difference " << worst << " of the tolerance; mean of the last 10 steps "
                                             << gpu_tail << " against the CPU's " << cpu_tail);
    CHECK(std::fabs(gpu_tail - cpu_tail) <= 0.03 * cpu_tail + 0.005 * first);
    CHECK(gpu_tail < gpu_log.losses.front() * 0.7);
}
