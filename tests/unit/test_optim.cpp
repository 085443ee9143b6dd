// Optimizers follow Keras' update rules; schedules give the documented learning rates.
#include <doctest/doctest.h>

#include <cmath>

#include "optim/optimizer.h"

namespace {

struct One {
    dl::ParamStore params;
    dl::Tensor grad{dl::Shape{2}};
    explicit One(float p0, float p1, float g0, float g1) {
        dl::Tensor & p = params.add("w", dl::Shape{2});
        p.f32()[0] = p0;
        p.f32()[1] = p1;
        grad.f32()[0] = g0;
        grad.f32()[1] = g1;
    }
    float p(int i) { return params.at("w").f32()[i]; }
};

}  // namespace

TEST_CASE("adam: Keras' bias-corrected step, epsilon outside the square root") {
    One t(1.0f, -2.0f, 0.5f, -0.25f);
    dl::OptimizerSpec spec{.type = "adam", .lr = 0.1};
    dl::Optimizer opt(spec, {}, t.params);
    opt.step({t.grad.view()}, 0.1);
    // First step: m = 0.1 g, v = 0.001 g^2, lr_t = lr * sqrt(1 - 0.999) / (1 - 0.9) -> p -= lr * sign(g)
    // (nearly)
    const double lr_t = 0.1 * std::sqrt(1 - 0.999) / (1 - 0.9);
    const double m = 0.1 * 0.5, v = 0.001 * 0.25;
    CHECK(t.p(0) == doctest::Approx(1.0 - lr_t * m / (std::sqrt(v) + 1e-7)).epsilon(1e-6));
    CHECK(t.p(1) == doctest::Approx(-2.0 + 0.1).epsilon(1e-5));
    CHECK(opt.iterations() == 1);
    CHECK(opt.slots().count("w/m") == 1);
    CHECK(opt.slots().count("w/v") == 1);
}

TEST_CASE("sgd: plain, momentum and nesterov as Keras") {
    One plain(1.0f, 1.0f, 2.0f, -2.0f);
    dl::Optimizer sgd({.type = "sgd", .lr = 0.1}, {}, plain.params);
    sgd.step({plain.grad.view()}, 0.1);
    CHECK(plain.p(0) == doctest::Approx(0.8));
    CHECK(plain.p(1) == doctest::Approx(1.2));

    One mom(1.0f, 1.0f, 1.0f, 1.0f);
    dl::Optimizer m({.type = "sgd", .lr = 0.1, .momentum = 0.9}, {}, mom.params);
    m.step({mom.grad.view()}, 0.1);  // v = -0.1, p = 0.9
    m.step({mom.grad.view()}, 0.1);  // v = -0.19, p = 0.71
    CHECK(mom.p(0) == doctest::Approx(0.71));

    One nes(1.0f, 1.0f, 1.0f, 1.0f);
    dl::Optimizer n({.type = "sgd", .lr = 0.1, .momentum = 0.9, .nesterov = true}, {}, nes.params);
    n.step({nes.grad.view()}, 0.1);  // v = -0.1, p += 0.9 * -0.1 - 0.1 = -0.19
    CHECK(nes.p(0) == doctest::Approx(0.81));
}

TEST_CASE("clipping by global norm and by value; weight decay") {
    One t(0.0f, 0.0f, 3.0f, 4.0f);  // norm 5
    dl::Optimizer sgd({.type = "sgd", .lr = 1.0}, {.global_norm = 1.0}, t.params);
    CHECK(sgd.step({t.grad.view()}, 1.0) == doctest::Approx(5.0));
    CHECK(t.p(0) == doctest::Approx(-0.6));
    CHECK(t.p(1) == doctest::Approx(-0.8));

    One v(0.0f, 0.0f, 3.0f, -0.25f);
    dl::Optimizer byvalue({.type = "sgd", .lr = 1.0}, {.value = 0.5}, v.params);
    byvalue.step({v.grad.view()}, 1.0);
    CHECK(v.p(0) == doctest::Approx(-0.5));
    CHECK(v.p(1) == doctest::Approx(0.25));

    One w(1.0f, 1.0f, 0.0f, 0.0f);
    dl::Optimizer adamw({.type = "adamw", .lr = 0.1, .weight_decay = 0.5}, {}, w.params);
    adamw.step({w.grad.view()}, 0.1);  // decoupled: p -= lr * wd * p even with a zero gradient
    CHECK(w.p(0) == doctest::Approx(0.95));
}

TEST_CASE("rmsprop and adagrad move against the gradient") {
    for (const char * type : {"rmsprop", "adagrad"}) {
        One t(1.0f, 1.0f, 1.0f, -1.0f);
        dl::Optimizer opt({.type = type, .lr = 0.01}, {}, t.params);
        opt.step({t.grad.view()}, 0.01);
        CHECK(t.p(0) < 1.0f);
        CHECK(t.p(1) > 1.0f);
    }
}

TEST_CASE("schedules: step, exponential, cosine, warm-up, plateau factor") {
    dl::TrainSpec t;
    t.optimizer.lr = 1.0;
    t.epochs = 10;
    t.schedule.type = "step";
    t.schedule.step_epochs = 2;
    t.schedule.gamma = 0.5;
    const dl::LrSchedule step(t, 4);  // 4 steps per epoch
    CHECK(step.at(0, 1) == doctest::Approx(1.0));
    CHECK(step.at(8, 1) == doctest::Approx(0.5));    // epoch 2
    CHECK(step.at(17, 1) == doctest::Approx(0.25));  // epoch 4.25

    t.schedule.type = "exponential";
    t.schedule.gamma = 0.9;
    CHECK(dl::LrSchedule(t, 1).at(3, 1) == doctest::Approx(std::pow(0.9, 3)));

    t.schedule.type = "cosine";
    t.schedule.min_lr = 0.0;
    const dl::LrSchedule cosine(t, 1);
    CHECK(cosine.at(0, 1) == doctest::Approx(1.0));
    CHECK(cosine.at(5, 1) == doctest::Approx(0.5));
    CHECK(cosine.at(10, 1) == doctest::Approx(0.0).epsilon(1e-12));

    t.schedule.warmup_epochs = 2;
    const dl::LrSchedule warm(t, 1);
    CHECK(warm.at(0, 1) == doctest::Approx(0.5));
    CHECK(warm.at(1, 1) == doctest::Approx(1.0));
    CHECK(warm.at(2, 1) == doctest::Approx(1.0));  // the cosine starts after the warm-up

    t.schedule = {.type = "reduce_on_plateau", .min_lr = 0.05};
    const dl::LrSchedule plateau(t, 1);
    CHECK(plateau.at(3, 0.1) == doctest::Approx(0.1));
    CHECK(plateau.at(3, 0.01) == doctest::Approx(0.05));
}

#include "train/replicas.h"

namespace {
// Stands in for rank r of n replicas; only shard() is exercised.
class FakeReplicas final : public dl::Replicas {
public:
    FakeReplicas(int r, int n) : r_(r), n_(n) {}
    int rank() const override { return r_; }
    int size() const override { return n_; }
    void reduce_gradients(std::span<dl::TensorView>, int64_t, int64_t) override {}

private:
    int r_, n_;
};
}  // namespace

TEST_CASE("replica shards of a global batch are contiguous, balanced and cover it exactly") {
    CHECK(dl::LocalReplicas().shard(64, 96) == std::pair<int64_t, int64_t>{64, 96});
    for (int n : {2, 3, 4}) {
        int64_t next = 27, smallest = 1 << 30, largest = 0;
        for (int r = 0; r < n; ++r) {
            auto [b, e] = FakeReplicas(r, n).shard(27, 59);
            CHECK(b == next);
            next = e;
            smallest = std::min(smallest, e - b);
            largest = std::max(largest, e - b);
        }
        CHECK(next == 59);
        CHECK(largest - smallest <= 1);
    }
}
