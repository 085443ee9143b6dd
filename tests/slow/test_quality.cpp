// Training quality on the housing data: the linear model reaches the least-squares solution, and the MLP
// config beats the linear one on the held-out test split.
#include <doctest/doctest.h>

#include <Eigen/Dense>
#include <filesystem>

#include "model/trained_model.h"
#include "train/trainer.h"

namespace {

const std::string kSource = DLCTL_SOURCE_DIR;

std::string scratch(const char * name) {
    const auto dir =
        std::filesystem::temp_directory_path() / fmt::format("dlctl-quality-{}-{}", name, getpid());
    std::filesystem::remove_all(dir);
    return dir.string();
}

dl::TrainResult train_quietly(const std::string & spec, std::vector<std::string> sets,
                              const std::string & runs) {
    dl::TrainObserver silent;
    return dl::train(
        {.spec_path = kSource + "/" + spec, .overrides = std::move(sets), .runs_flag = runs, .threads = 2},
        silent);
}

}  // namespace

TEST_CASE("the linear model reaches the closed-form least-squares solution within 1%") {
    const std::string runs = scratch("lsq");
    // Full-batch gradient descent with momentum, long enough to converge.
    const dl::TrainResult r = train_quietly("configs/housing.yaml",
                                            {"train.batch_size=1000", "train.epochs=4000",
                                             "train.optimizer={type: sgd, lr: 0.05, momentum: 0.9}"},
                                            runs);
    dl::TrainedModel m = dl::load_trained(dl::resolve_model(r.run_dir, runs));

    // The same training rows, normalised the same way, solved in double with a bias column.
    dl::Table t = dl::load_table_for(m, "");
    const dl::Splits s = dl::make_splits(t.rows(), m.spec.data, m.spec.seed);
    const int64_t n = static_cast<int64_t>(s.train.size()), f = t.num_features();
    Eigen::MatrixXd X(n, f + 1);
    Eigen::VectorXd y(n);
    for (int64_t i = 0; i < n; ++i) {
        const int64_t row = s.train[static_cast<size_t>(i)];
        for (int64_t c = 0; c < f; ++c) X(i, c) = t.features[static_cast<size_t>(row * f + c)];
        X(i, f) = 1.0;
        y(i) = t.targets[static_cast<size_t>(row)];
    }
    const Eigen::VectorXd exact = (X.transpose() * X).ldlt().solve(X.transpose() * y);
    Eigen::VectorXd trained(f + 1);
    for (int64_t c = 0; c < f; ++c) trained(c) = m.params.at("dense/kernel").f32()[c];
    trained(f) = m.params.at("dense/bias").f32()[0];
    const double rel = (trained - exact).norm() / exact.norm();
    MESSAGE("relative error to the least-squares solution: " << rel);
    CHECK(rel < 0.01);
    // And not by accident: a short run is far from it.
    const dl::TrainResult early = train_quietly("configs/housing.yaml", {"train.epochs=5"}, runs);
    dl::TrainedModel e = dl::load_trained(dl::resolve_model(early.run_dir, runs));
    Eigen::VectorXd w5(f + 1);
    for (int64_t c = 0; c < f; ++c) w5(c) = e.params.at("dense/kernel").f32()[c];
    w5(f) = e.params.at("dense/bias").f32()[0];
    CHECK((w5 - exact).norm() / exact.norm() > 0.5);
    std::filesystem::remove_all(runs);
}

TEST_CASE("the MLP config gets a lower test MSE than the linear model") {
    const std::string runs = scratch("mlp");
    const dl::TrainResult linear = train_quietly("configs/housing.yaml", {}, runs);
    const dl::TrainResult mlp = train_quietly("configs/housing-mlp.yaml", {}, runs);
    const double linear_mse = linear.metrics["test_loss"].get<double>();
    const double mlp_mse = mlp.metrics["test_loss"].get<double>();
    MESSAGE("test MSE: linear " << linear_mse << ", MLP " << mlp_mse);
    CHECK(mlp_mse < linear_mse);
    // Also better than the linear model trained to convergence (the closed form), not only than 100 Adam
    // epochs.
    const dl::TrainResult converged = train_quietly("configs/housing.yaml",
                                                    {"train.batch_size=1000", "train.epochs=4000",
                                                     "train.optimizer={type: sgd, lr: 0.05, momentum: 0.9}"},
                                                    runs);
    MESSAGE("test MSE of the converged linear model: " << converged.metrics["test_loss"].get<double>());
    CHECK(mlp_mse < converged.metrics["test_loss"].get<double>());
    std::filesystem::remove_all(runs);
}
