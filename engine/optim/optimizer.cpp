#include "optim/optimizer.h"

#include <cmath>

namespace dl {

Optimizer::Optimizer(const OptimizerSpec & spec, const ClipSpec & clip, ParamStore & params)
    : spec_(spec), clip_(clip), params_(params) {
    auto slot = [&](const std::string & param, const char * name, float init) {
        Tensor t(params.at(param).shape());
        std::fill(t.f32(), t.f32() + t.numel(), init);
        slots_.emplace(param + "/" + name, std::move(t));
    };
    for (const std::string & p : params.names()) {
        if (spec_.type == "sgd" && spec_.momentum > 0) slot(p, "momentum", 0.0f);
        if (spec_.type == "adam" || spec_.type == "adamw") {
            slot(p, "m", 0.0f);
            slot(p, "v", 0.0f);
        }
        if (spec_.type == "rmsprop") {
            slot(p, "rms", 0.0f);
            if (spec_.momentum > 0) slot(p, "momentum", 0.0f);
        }
        if (spec_.type == "adagrad") slot(p, "accumulator", static_cast<float>(spec_.initial_accumulator));
    }
}

std::vector<std::string> Optimizer::slot_names() const {
    std::vector<std::string> out;
    for (auto & [name, t] : slots_) out.push_back(name);
    return out;
}

double Optimizer::step(const std::vector<TensorView> & grads, double lr) {
    const std::vector<std::string> & names = params_.names();
    DL_ASSERT(grads.size() == names.size());
    // Global norm in double, parameters in a fixed order: the same at any thread count.
    double sumsq = 0;
    for (const TensorView & g : grads)
        for (int64_t i = 0; i < g.numel(); ++i) sumsq += static_cast<double>(g.f32()[i]) * g.f32()[i];
    const double norm = std::sqrt(sumsq);
    if (!std::isfinite(norm)) return norm;  // the trainer stops on a non-finite gradient
    const float clip_scale =
        clip_.global_norm > 0 && norm > clip_.global_norm ? static_cast<float>(clip_.global_norm / norm) : 1.0f;
    const float clip_value = static_cast<float>(clip_.value);

    ++iterations_;
    const double t = static_cast<double>(iterations_);
    const float lr_f = static_cast<float>(lr);
    const float wd = static_cast<float>(spec_.weight_decay);
    for (size_t k = 0; k < names.size(); ++k) {
        const std::string & name = names[k];
        float * p = params_.at(name).f32();
        const float * graw = grads[k].f32();
        const int64_t n = grads[k].numel();
        auto grad_at = [&](int64_t i) {
            float g = graw[i] * clip_scale;
            if (clip_value > 0) g = std::clamp(g, -clip_value, clip_value);
            if (wd > 0 && spec_.type != "adamw") g += wd * p[i];  // L2 through the gradient (Keras' weight decay is
            return g;                                              // decoupled only for AdamW)
        };
        if (spec_.type == "sgd") {
            const float mu = static_cast<float>(spec_.momentum);
            if (mu > 0) {
                float * v = slots_.at(name + "/momentum").f32();
                for (int64_t i = 0; i < n; ++i) {
                    const float g = grad_at(i);
                    v[i] = mu * v[i] - lr_f * g;  // Keras: velocity = momentum * velocity - lr * g
                    p[i] += spec_.nesterov ? mu * v[i] - lr_f * g : v[i];
                }
            } else {
                for (int64_t i = 0; i < n; ++i) p[i] -= lr_f * grad_at(i);
            }
        } else if (spec_.type == "adam" || spec_.type == "adamw") {
            // Keras' Adam: lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t); p -= lr_t * m / (sqrt(v) + eps)
            float * m = slots_.at(name + "/m").f32();
            float * v = slots_.at(name + "/v").f32();
            const float b1 = static_cast<float>(spec_.beta_1), b2 = static_cast<float>(spec_.beta_2);
            const float lr_t =
                static_cast<float>(lr * std::sqrt(1.0 - std::pow(spec_.beta_2, t)) / (1.0 - std::pow(spec_.beta_1, t)));
            const float eps = static_cast<float>(spec_.epsilon);
            for (int64_t i = 0; i < n; ++i) {
                const float g = grad_at(i);
                if (spec_.type == "adamw" && wd > 0) p[i] -= lr_f * wd * p[i];
                m[i] += (g - m[i]) * (1.0f - b1);
                v[i] += (g * g - v[i]) * (1.0f - b2);
                p[i] -= lr_t * m[i] / (std::sqrt(v[i]) + eps);
            }
        } else if (spec_.type == "rmsprop") {
            float * r = slots_.at(name + "/rms").f32();
            const float rho = static_cast<float>(spec_.rho), eps = static_cast<float>(spec_.epsilon);
            const float mu = static_cast<float>(spec_.momentum);
            float * v = mu > 0 ? slots_.at(name + "/momentum").f32() : nullptr;
            for (int64_t i = 0; i < n; ++i) {
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
        } else if (spec_.type == "adagrad") {
            float * acc = slots_.at(name + "/accumulator").f32();
            const float eps = static_cast<float>(spec_.epsilon);
            for (int64_t i = 0; i < n; ++i) {
                const float g = grad_at(i);
                acc[i] += g * g;
                p[i] -= lr_f * g / (std::sqrt(acc[i]) + eps);
            }
        }
    }
    return norm;
}

double LrSchedule::at(int64_t step, double plateau_factor) const {
    const ScheduleSpec & s = train_.schedule;
    const double base = train_.optimizer.lr;
    const double epoch = static_cast<double>(step) / static_cast<double>(steps_per_epoch_);  // fractional
    if (s.warmup_epochs > 0 && epoch < s.warmup_epochs)
        return base * (static_cast<double>(step + 1) / (s.warmup_epochs * static_cast<double>(steps_per_epoch_)));
    const double t = epoch - s.warmup_epochs;
    const double span = std::max(1e-9, static_cast<double>(train_.epochs) - s.warmup_epochs);
    double lr = base;
    if (s.type == "step") lr = base * std::pow(s.gamma, std::floor(t / s.step_epochs));
    else if (s.type == "exponential") lr = base * std::pow(s.gamma, t);
    else if (s.type == "cosine") lr = s.min_lr + 0.5 * (base - s.min_lr) * (1.0 + std::cos(M_PI * std::min(1.0, t / span)));
    else if (s.type == "reduce_on_plateau") lr = std::max(s.min_lr, base * plateau_factor);
    return lr;
}

}  // namespace dl
