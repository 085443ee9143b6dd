#include "optim/optimizer.h"

#include <Eigen/Core>
#include <cmath>
#include <map>

namespace dl {

namespace {
constexpr int64_t kOptimizerChunk = 1 << 14;  // fixed: the reduction order never depends on the thread count
}

Optimizer::Optimizer(const OptimizerSpec & spec, const ClipSpec & clip, ParamStore & params,
                     ThreadPool * pool, Backend * device)
    : spec_(spec),
      clip_(clip),
      rule_(update_rule(spec, clip)),
      params_(params),
      pool_(pool),
      device_(device && !device->host_memory() ? device : nullptr) {
    auto slot = [&](const std::string & param, const char * name, float init) {
        Tensor t(params.at(param).shape());
        std::fill(t.f32(), t.f32() + t.numel(), init);
        return slots_.emplace(param + "/" + name, std::move(t)).first->second.f32();
    };
    const bool momentum = spec_.momentum > 0;
    for (const std::string & name : params.trainable_names()) {
        ParamSlots ps{.p = params.at(name).f32()};
        if (spec_.type == "sgd" && momentum) ps.s0 = slot(name, "momentum", 0.0f);
        if (spec_.type == "adam" || spec_.type == "adamw") {
            ps.s0 = slot(name, "m", 0.0f);
            ps.s1 = slot(name, "v", 0.0f);
        }
        if (spec_.type == "rmsprop") {
            ps.s0 = slot(name, "rms", 0.0f);
            if (momentum) ps.s1 = slot(name, "momentum", 0.0f);
        }
        if (spec_.type == "adagrad")
            ps.s0 = slot(name, "accumulator", static_cast<float>(spec_.initial_accumulator));
        const int64_t n = params.at(name).numel();
        for (int64_t b = 0; b < n; b += kOptimizerChunk)
            chunks_.push_back({slot_ptrs_.size(), b, std::min(n, b + kOptimizerChunk)});
        slot_ptrs_.push_back(ps);
    }
    partial_sumsq_.assign(chunks_.size(), 0.0);
    if (!device_) return;
    for (auto & [name, t] : slots_) {
        void * d = device_->allocate(t.view().bytes());
        device_->upload(d, t.view().data, t.view().bytes());
        device_slots_[name] = d;
    }
    auto device_slot = [&](const std::string & param, const char * slot) -> float * {
        auto it = device_slots_.find(param + "/" + slot);
        return it == device_slots_.end() ? nullptr : static_cast<float *>(it->second);
    };
    for (const std::string & name : params.trainable_names()) {
        OptimizerTensor t{.param = static_cast<float *>(params.device_data(name, *device_)),
                          .size = params.at(name).numel()};
        if (spec_.type == "sgd") t.slot0 = device_slot(name, "momentum");
        if (spec_.type == "adam" || spec_.type == "adamw") {
            t.slot0 = device_slot(name, "m");
            t.slot1 = device_slot(name, "v");
        }
        if (spec_.type == "rmsprop") {
            t.slot0 = device_slot(name, "rms");
            t.slot1 = device_slot(name, "momentum");
        }
        if (spec_.type == "adagrad") t.slot0 = device_slot(name, "accumulator");
        device_tensors_.push_back(t);
    }
    device_norm_ = static_cast<float *>(device_->allocate(sizeof(float)));
    device_->synchronize();
}

Optimizer::~Optimizer() {
    if (!device_) return;
    for (auto & [name, p] : device_slots_) device_->deallocate(p);
    device_->deallocate(device_norm_);
}

void Optimizer::issue(const std::vector<TensorView> & grads) {
    DL_ASSERT(device_ && grads.size() == device_tensors_.size());
    for (size_t i = 0; i < grads.size(); ++i) device_tensors_[i].grad = grads[i].f32();
    device_->optimizer_update({.rule = rule_, .tensors = device_tensors_, .norm_out = device_norm_});
}

double Optimizer::finish_step() {
    float norm = 0;
    device_->download(&norm, device_norm_, sizeof norm);
    device_->synchronize();
    if (std::isfinite(norm)) ++iterations_;
    return norm;
}

void Optimizer::download_slots() {
    if (!device_) return;
    for (auto & [name, p] : device_slots_)
        device_->download(slots_.at(name).view().data, p, slots_.at(name).view().bytes());
    device_->synchronize();
}

void Optimizer::upload_slots() {
    if (!device_) return;
    for (auto & [name, p] : device_slots_)
        device_->upload(p, slots_.at(name).view().data, slots_.at(name).view().bytes());
    device_->synchronize();
}

void Optimizer::update(const Chunk & c, const float * graw, float clip_scale, double lr, double t) {
    const ParamSlots & ps = slot_ptrs_[c.param];
    update_range(rule_, {.param = ps.p, .grad = graw, .slot0 = ps.s0, .slot1 = ps.s1}, c.begin, c.end,
                 clip_scale, lr, t);
}

UpdateRule update_rule(const OptimizerSpec & spec, const ClipSpec & clip) {
    static const std::map<std::string, UpdateKind> kinds = {{"sgd", UpdateKind::sgd},
                                                            {"adam", UpdateKind::adam},
                                                            {"adamw", UpdateKind::adamw},
                                                            {"rmsprop", UpdateKind::rmsprop},
                                                            {"adagrad", UpdateKind::adagrad}};
    const auto kind = kinds.find(spec.type);
    DL_CHECK(kind != kinds.end(), ExitCode::internal, "optimizer '{}' has no update rule", spec.type);
    return {.kind = kind->second,
            .momentum = spec.momentum,
            .nesterov = spec.nesterov,
            .beta_1 = spec.beta_1,
            .beta_2 = spec.beta_2,
            .epsilon = spec.epsilon,
            .rho = spec.rho,
            .weight_decay = spec.weight_decay,
            .clip_global_norm = clip.global_norm,
            .clip_value = clip.value};
}

void update_range(const UpdateRule & rule, const OptimizerTensor & x, int64_t begin, int64_t end,
                  float clip_scale, double lr, double t) {
    const float * graw = x.grad;
    float * p = x.param;
    const float lr_f = static_cast<float>(lr);
    const float wd = static_cast<float>(rule.weight_decay);
    const float clip_value = static_cast<float>(rule.clip_value);
    auto grad_at = [&](int64_t i) {
        float g = graw[i] * clip_scale;
        if (clip_value > 0) g = std::clamp(g, -clip_value, clip_value);
        if (wd > 0 && rule.kind != UpdateKind::adamw)
            g += wd * p[i];  // L2 through the gradient; decoupled only for AdamW
        return g;
    };
    if (rule.kind == UpdateKind::sgd) {
        const float mu = static_cast<float>(rule.momentum);
        if (float * v = x.slot0) {
            for (int64_t i = begin; i < end; ++i) {
                const float g = grad_at(i);
                v[i] = mu * v[i] - lr_f * g;  // Keras: velocity = momentum * velocity - lr * g
                p[i] += rule.nesterov ? mu * v[i] - lr_f * g : v[i];
            }
        } else {
            for (int64_t i = begin; i < end; ++i) p[i] -= lr_f * grad_at(i);
        }
    } else if (rule.kind == UpdateKind::adam || rule.kind == UpdateKind::adamw) {
        // Keras' Adam: lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t); p -= lr_t * m / (sqrt(v) + eps)
        float *m = x.slot0, *v = x.slot1;
        const float b1 = static_cast<float>(rule.beta_1), b2 = static_cast<float>(rule.beta_2);
        const float lr_t = static_cast<float>(lr * std::sqrt(1.0 - std::pow(rule.beta_2, t)) /
                                              (1.0 - std::pow(rule.beta_1, t)));
        const float eps = static_cast<float>(rule.epsilon);
        const bool decoupled = rule.kind == UpdateKind::adamw && wd > 0;
        if (clip_value == 0 && (wd == 0 || decoupled)) {
            // The common case as whole-array expressions, which the compiler vectorises (same formulas as
            // below).
            using Array = Eigen::Map<Eigen::ArrayXf>;
            const int64_t len = end - begin;
            Array pa(p + begin, len), ma(m + begin, len), va(v + begin, len);
            const auto g = Eigen::Map<const Eigen::ArrayXf>(graw + begin, len) * clip_scale;
            if (decoupled) pa -= lr_f * wd * pa;
            ma += (g - ma) * (1.0f - b1);
            va += (g * g - va) * (1.0f - b2);
            pa -= lr_t * ma / (va.sqrt() + eps);
            return;
        }
        for (int64_t i = begin; i < end; ++i) {
            const float g = grad_at(i);
            if (decoupled) p[i] -= lr_f * wd * p[i];
            m[i] += (g - m[i]) * (1.0f - b1);
            v[i] += (g * g - v[i]) * (1.0f - b2);
            p[i] -= lr_t * m[i] / (std::sqrt(v[i]) + eps);
        }
    } else if (rule.kind == UpdateKind::rmsprop) {
        float *r = x.slot0, *v = x.slot1;
        const float rho = static_cast<float>(rule.rho), eps = static_cast<float>(rule.epsilon);
        const float mu = static_cast<float>(rule.momentum);
        for (int64_t i = begin; i < end; ++i) {
            const float g = grad_at(i);
            r[i] = rho * r[i] + (1.0f - rho) * g * g;
            const float step = lr_f * g / (std::sqrt(r[i]) + eps);
            if (v) {
                v[i] = mu * v[i] + step;
                p[i] -= v[i];
            } else {
                p[i] -= step;
            }
        }
    } else if (rule.kind == UpdateKind::adagrad) {
        float * acc = x.slot0;
        const float eps = static_cast<float>(rule.epsilon);
        for (int64_t i = begin; i < end; ++i) {
            const float g = grad_at(i);
            acc[i] += g * g;
            p[i] -= lr_f * g / (std::sqrt(acc[i]) + eps);
        }
    }
}

double Optimizer::step(const std::vector<TensorView> & grads, double lr) {
    DL_ASSERT(grads.size() == slot_ptrs_.size());
    // Waking threads costs tens of microseconds: small models update on the calling thread alone.
    const bool parallel = pool_ != nullptr && chunks_.size() >= 4;
    auto run = [&](auto && body) {
        if (parallel)
            pool_->parallel_for(static_cast<int64_t>(chunks_.size()), body);
        else
            for (int64_t c = 0; c < static_cast<int64_t>(chunks_.size()); ++c) body(c);
    };
    // Global norm in double: fixed chunks summed in a fixed order, the same at any thread count.
    // Eight interleaved sums (a fixed order the compiler can keep in vector lanes): one running sum is a
    // chain of dependent additions that cost a tenth of the MLP's step.
    run([&](int64_t k) {
        const Chunk & c = chunks_[static_cast<size_t>(k)];
        const float * g = grads[c.param].f32();
        double lanes[8] = {};
        int64_t i = c.begin;
        for (; i + 8 <= c.end; i += 8)
            for (int j = 0; j < 8; ++j) lanes[j] += static_cast<double>(g[i + j]) * g[i + j];
        double s = 0;
        for (; i < c.end; ++i) s += static_cast<double>(g[i]) * g[i];
        for (double lane : lanes) s += lane;
        partial_sumsq_[static_cast<size_t>(k)] = s;
    });
    double sumsq = 0;
    for (double s : partial_sumsq_) sumsq += s;
    const double norm = std::sqrt(sumsq);
    if (!std::isfinite(norm)) return norm;  // the trainer stops on a non-finite gradient
    const float clip_scale = clip_.global_norm > 0 && norm > clip_.global_norm
                                 ? static_cast<float>(clip_.global_norm / norm)
                                 : 1.0f;
    ++iterations_;
    const double t = static_cast<double>(iterations_);
    run([&](int64_t k) {
        const Chunk & c = chunks_[static_cast<size_t>(k)];
        update(c, grads[c.param].f32(), clip_scale, lr, t);
    });
    return norm;
}

double LrSchedule::at(int64_t step, double plateau_factor) const {
    const ScheduleSpec & s = train_.schedule;
    const double base = train_.optimizer.lr;
    const double epoch = static_cast<double>(step) / static_cast<double>(steps_per_epoch_);  // fractional
    if (s.warmup_epochs > 0 && epoch < s.warmup_epochs)
        return base *
               (static_cast<double>(step + 1) / (s.warmup_epochs * static_cast<double>(steps_per_epoch_)));
    const double t = epoch - s.warmup_epochs;
    const double span = std::max(1e-9, static_cast<double>(train_.epochs) - s.warmup_epochs);
    double lr = base;
    if (s.type == "step")
        lr = base * std::pow(s.gamma, std::floor(t / s.step_epochs));
    else if (s.type == "exponential")
        lr = base * std::pow(s.gamma, t);
    else if (s.type == "cosine")
        lr = s.min_lr + 0.5 * (base - s.min_lr) * (1.0 + std::cos(M_PI * std::min(1.0, t / span)));
    else if (s.type == "reduce_on_plateau")
        lr = plateau_lr(plateau_factor);
    return lr;
}

double LrSchedule::plateau_lr(double plateau_factor) const {
    return std::max(train_.schedule.min_lr, train_.optimizer.lr * plateau_factor);
}

}  // namespace dl
