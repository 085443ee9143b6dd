#include "optim/optimizer.h"

#include <cmath>
#include <map>

#include "spec/optimizer_def.h"
#include "spec/schedule_def.h"

namespace dl {

namespace {
constexpr int64_t kOptimizerChunk = 1 << 14;  // fixed: the reduction order never depends on the thread count

const ScheduleDef & schedule_def(const std::string & type) {
    const ScheduleDef * def = find_schedule(type);
    DL_CHECK(def != nullptr && def->rate != nullptr, ExitCode::internal, "schedule '{}' is not registered",
             type);
    return *def;
}

const OptimizerDef & optimizer_def(const std::string & type) {
    const OptimizerDef * def = find_optimizer(type);
    DL_CHECK(def != nullptr, ExitCode::internal, "optimizer '{}' is not registered", type);
    return *def;
}
}  // namespace

Optimizer::Optimizer(const OptimizerSpec & spec, const ClipSpec & clip, ParamStore & params,
                     ThreadPool * pool, Backend * device)
    : spec_(spec),
      clip_(clip),
      rule_(update_rule(spec, clip)),
      update_(optimizer_def(spec.type).update),
      params_(params),
      pool_(pool),
      device_(device && !device->host_memory() ? device : nullptr) {
    auto slot = [&](const std::string & param, const char * name, float init) {
        Tensor t(params.at(param).shape());
        std::fill(t.f32(), t.f32() + t.numel(), init);
        return slots_.emplace(param + "/" + name, std::move(t)).first->second.f32();
    };
    const std::vector<OptimizerSlot> slot_defs = optimizer_def(spec_.type).slots(spec_);
    for (const std::string & name : params.trainable_names()) {
        ParamSlots ps{.p = params.at(name).f32()};
        if (slot_defs.size() > 0)
            ps.s0 = slot(name, slot_defs[0].name, static_cast<float>(slot_defs[0].initial));
        if (slot_defs.size() > 1)
            ps.s1 = slot(name, slot_defs[1].name, static_cast<float>(slot_defs[1].initial));
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
        if (slot_defs.size() > 0) t.slot0 = device_slot(name, slot_defs[0].name);
        if (slot_defs.size() > 1) t.slot1 = device_slot(name, slot_defs[1].name);
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
    update_(rule_, {.param = ps.p, .grad = graw, .slot0 = ps.s0, .slot1 = ps.s1}, c.begin, c.end, clip_scale,
            lr, t);
}

UpdateRule update_rule(const OptimizerSpec & spec, const ClipSpec & clip) {
    const OptimizerDef & def = optimizer_def(spec.type);
    return {.kind = def.kind,
            .momentum = spec.momentum,
            .nesterov = spec.nesterov,
            .beta_1 = spec.beta_1,
            .beta_2 = spec.beta_2,
            .epsilon = spec.epsilon,
            .rho = spec.rho,
            .weight_decay = spec.weight_decay,
            .decoupled_weight_decay = def.decoupled_weight_decay,
            .clip_global_norm = clip.global_norm,
            .clip_value = clip.value};
}

void update_range(const UpdateRule & rule, const OptimizerTensor & x, int64_t begin, int64_t end,
                  float clip_scale, double lr, double t) {
    const OptimizerDef * def = find_optimizer(rule.kind);
    DL_CHECK(def != nullptr, ExitCode::internal, "no optimizer updates kind {}", static_cast<int>(rule.kind));
    def->update(rule, x, begin, end, clip_scale, lr, t);
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
    return schedule_def(s.type).rate(s, base, t, span, plateau_factor);
}

double LrSchedule::plateau_lr(double plateau_factor) const {
    const ScheduleSpec & s = train_.schedule;
    return schedule_def(s.type).rate(s, train_.optimizer.lr, 0.0, 1.0, plateau_factor);
}

}  // namespace dl
