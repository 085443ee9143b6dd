// dlctl bench SPEC: where a training step's time goes, per op and per phase (forward, backward, optimizer),
// and samples/s for training and inference, on the spec's real data (like `caffe time`).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "commands.h"
#include "model/session.h"
#include "optim/optimizer.h"
#include "report.h"
#include "train/step.h"

namespace dlctl {

namespace {

struct BenchOptions {
    std::string spec;
    std::vector<std::string> overrides;
    int64_t steps = 50;
    int threads = 0;
    std::string device;
    bool json = false;
};

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void run_bench(const BenchOptions & o) {
    const dl::Spec spec = dl::load_spec(o.spec, o.overrides);
    const dl::PreparedData data = dl::prepare_data(spec);
    const dl::Table & table = data.table;
    const dl::Splits & splits = data.splits;
    const dl::DataInfo & info = data.info;
    const std::string device = dl::resolve_device(o.device, spec.device);
    const std::unique_ptr<dl::Backend> backend = dl::make_backend(device);  // outlives the parameters
    if (!backend->set_precision(spec.train.precision))
        note(fmt::format("train.precision {} applies on the GPU; the {} backend computes in float32",
                         spec.train.precision, backend->name()));
    dl::ParamStore params;
    const int threads = o.threads > 0 ? o.threads : dl::ThreadPool::hardware_threads();
    dl::ModelSession session(spec, info, params, threads, backend.get());
    const int64_t n = static_cast<int64_t>(splits.train.size());
    const int64_t batch = std::min<int64_t>(spec.train.batch_size, n);
    dl::Executor & ex = session.executor(dl::GraphMode::train, batch);
    dl::Optimizer opt(spec.train.optimizer, spec.train.clip, params, &session.pool(), backend.get());
    dl::LocalReplicas replicas;
    dl::TrainStep train_step(session, opt, replicas, spec.seed);
    const double lr = spec.train.optimizer.lr;

    // Warm up (first touches of memory), then time o.steps steps over consecutive batches. Untimed, the
    // training step as `dlctl train` issues it (on a device: recorded, replayed); timed, kernel by kernel.
    auto step = [&](int64_t s, dl::StepTiming * timing) {
        const int64_t begin = (s * batch) % std::max<int64_t>(1, n - batch + 1);
        session.feed(ex, table, splits.train, begin, begin + batch, true);
        if (train_step.device_step(timing)) ex.upload_inputs();
        train_step.run(ex, static_cast<uint64_t>(s), lr, batch, batch, {}, timing);
    };
    for (int64_t s = 0; s < 3; ++s) step(s, nullptr);
    const double t_train = now_s();
    for (int64_t s = 0; s < o.steps; ++s) step(s, nullptr);
    const double train_sps = static_cast<double>(o.steps * batch) / (now_s() - t_train);
    dl::StepTiming timing;
    for (int64_t s = 0; s < o.steps; ++s) step(s, &timing);
    const std::vector<double> & per_kernel = timing.per_kernel;
    const double optimizer_s = timing.optimizer_s;

    // Inference: the prediction graph at the training batch size, and at batch 1 for latency.
    // The median of single runs: a latency, robust to the odd preempted run (PyTorch's peer reports the
    // same).
    auto time_predict = [&](int64_t b, int64_t runs) {
        dl::Executor & p = session.executor(dl::GraphMode::predict, b);
        session.feed(p, table, splits.train, 0, b, false);
        for (int64_t r = 0; r < 10; ++r) p.run(spec.seed, 0);
        std::vector<double> times(static_cast<size_t>(runs));
        for (double & t : times) {
            const double t0 = now_s();
            p.run(spec.seed, 0);
            t = now_s() - t0;
        }
        std::nth_element(times.begin(), times.begin() + runs / 2, times.end());
        return times[static_cast<size_t>(runs / 2)];
    };
    const double predict_s = time_predict(batch, o.steps);
    const double latency_s = time_predict(1, std::max<int64_t>(o.steps, 1000));

    // Forward nodes come before the loss; autodiff appended the backward pass after it.
    const int loss_id = ex.graph().outputs().at("loss");
    std::map<std::pair<std::string, std::string>, std::pair<double, int>>
        by_op;  // (phase, op) -> (seconds, count)
    double phase_s[2] = {0, 0};
    const std::vector<int> & schedule = ex.plan().schedule;
    for (size_t i = 0; i < schedule.size(); ++i) {
        const dl::Node & node = ex.graph().node(schedule[i]);
        const int phase = node.id <= loss_id ? 0 : 1;
        auto & entry = by_op[{phase == 0 ? "forward" : "backward", node.op}];
        entry.first += per_kernel[i];
        entry.second += 1;
        phase_s[phase] += per_kernel[i];
    }
    const double steps = static_cast<double>(o.steps);
    const double total = phase_s[0] + phase_s[1] + optimizer_s;
    if (o.json) {
        nlohmann::ordered_json j;
        j["spec"] = spec.name;
        j["batch"] = batch;
        j["steps"] = o.steps;
        j["threads"] = threads;
        j["device"] = backend->name();
        j["precision"] = spec.train.precision;
        j["train_samples_per_s"] = train_sps;
        j["inference_samples_per_s"] = static_cast<double>(batch) / predict_s;
        j["latency_batch1_ms"] = latency_s * 1e3;
        j["phases_ms_per_step"] = {{"forward", phase_s[0] / steps * 1e3},
                                   {"backward", phase_s[1] / steps * 1e3},
                                   {"optimizer", optimizer_s / steps * 1e3}};
        nlohmann::ordered_json ops = nlohmann::ordered_json::array();
        for (auto & [key, v] : by_op)
            ops.push_back({{"phase", key.first},
                           {"op", key.second},
                           {"kernels", v.second},
                           {"ms_per_step", v.first / steps * 1e3},
                           {"share", total > 0 ? v.first / total : 0.0}});
        j["ops"] = ops;
        // Every kernel apart, with its shapes: what a per-shape comparison (bench/gpu.sh's GEMMs) reads.
        nlohmann::ordered_json kernels = nlohmann::ordered_json::array();
        for (size_t i = 0; i < schedule.size(); ++i) {
            const dl::Node & node = ex.graph().node(schedule[i]);
            nlohmann::ordered_json inputs = nlohmann::ordered_json::array();
            for (int in : node.inputs) inputs.push_back(ex.graph().node(in).shape.dims);
            kernels.push_back({{"phase", node.id <= loss_id ? "forward" : "backward"},
                               {"op", node.op},
                               {"inputs", inputs},
                               {"output", node.shape.dims},
                               {"ms_per_step", per_kernel[i] / steps * 1e3}});
        }
        j["kernels"] = kernels;
        print_json(j);
        return;
    }
    fmt::print("{}: batch {}, {} steps, {} threads, {}\n\n", spec.name, batch, o.steps, threads,
               backend->name());
    fmt::print("{:<10} {:<36} {:>8} {:>12} {:>7}\n", "phase", "op", "kernels", "ms/step", "share");
    for (auto & [key, v] : by_op)
        fmt::print("{:<10} {:<36} {:>8} {:>12.4f} {:>6.1f}%\n", key.first, key.second, v.second,
                   v.first / steps * 1e3, total > 0 ? 100 * v.first / total : 0.0);
    fmt::print("{:<10} {:<36} {:>8} {:>12.4f} {:>6.1f}%\n", "optimizer", spec.train.optimizer.type,
               params.trainable_names().size(), optimizer_s / steps * 1e3,
               total > 0 ? 100 * optimizer_s / total : 0.0);
    fmt::print("\nforward {:.4f} ms, backward {:.4f} ms, optimizer {:.4f} ms per step\n",
               phase_s[0] / steps * 1e3, phase_s[1] / steps * 1e3, optimizer_s / steps * 1e3);
    fmt::print("training:  {:.0f} samples/s\ninference: {:.0f} samples/s at batch {}, {:.4f} ms at batch 1\n",
               train_sps, static_cast<double>(batch) / predict_s, batch, latency_s * 1e3);
}

}  // namespace

void setup_bench(CLI::App & app, const char * name, const char * summary) {
    auto o = std::make_shared<BenchOptions>();
    CLI::App * sub = app.add_subcommand(name, summary);
    sub->add_option("spec", o->spec, "the model's YAML spec")->required();
    sub->add_option("--set", o->overrides, "override a spec field: KEY=VALUE; repeatable");
    sub->add_option("--steps", o->steps, "timed training steps (default 50)")->check(CLI::Range(1, 1000000));
    sub->add_option("--threads", o->threads, "CPU threads (default: all cores)")->check(CLI::Range(1, 1024));
    sub->add_option("--device", o->device,
                    "cpu, cuda, cuda:N or auto (default: the spec's `device`, else cpu)");
    sub->add_flag("--json", o->json, "print one JSON object on stdout");
    sub->callback([o] { run_bench(*o); });
}

}  // namespace dlctl
