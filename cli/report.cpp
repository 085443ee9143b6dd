#include "report.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>

namespace dlctl {

bool stderr_is_tty() { return ::isatty(STDERR_FILENO) == 1; }

void note(const std::string & message) { fmt::print(stderr, "dlctl: note: {}\n", message); }

void print_json(const nlohmann::ordered_json & j) { std::cout << j.dump() << std::endl; }

std::string format_value(double v) {
    if (std::isnan(v)) return "nan";
    const double a = std::fabs(v);
    if (a != 0 && (a < 1e-3 || a >= 1e6)) return fmt::format("{:.4e}", v);
    return fmt::format("{:.4f}", v);
}

static double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void ProgressPrinter::on_start(const dl::Spec & spec, const dl::RunRef & run, int64_t rows, int64_t steps) {
    epochs_ = spec.train.epochs;
    batch_size_ = spec.train.batch_size;
    fmt::print(stderr, "training {}@{}: {} rows, {} steps per epoch, {} epochs\n", run.name, run.version,
               rows, steps, epochs_);
}

void ProgressPrinter::on_batch(int64_t epoch, int64_t batch, int64_t batches, double loss) {
    if (!animated_) return;
    const double t = now_s();
    if (epoch != rate_epoch_) rate_epoch_ = epoch, rate_batch0_ = batch, rate_t0_ = t;
    if (batch != batches && t - last_draw_ < 0.05) return;  // redraw at most 20 times a second
    last_draw_ = t;
    const int width = 24;
    const int filled = static_cast<int>(width * batch / std::max<int64_t>(1, batches));
    std::string speed;
    if (batch > rate_batch0_ && t > rate_t0_) {
        const double per_batch = (t - rate_t0_) / static_cast<double>(batch - rate_batch0_);
        speed = fmt::format(" - {:.0f} samples/s - ETA {:.0f}s", static_cast<double>(batch_size_) / per_batch,
                            per_batch * static_cast<double>(batches - batch));
    }
    fmt::print(stderr, "\r\033[2KEpoch {}/{} [{}{}] {}/{} loss {}{}", epoch, epochs_,
               std::string(static_cast<size_t>(filled), '='),
               std::string(static_cast<size_t>(width - filled), ' '), batch, batches, format_value(loss),
               speed);
}

void ProgressPrinter::on_epoch(const dl::EpochReport & r) {
    std::string line = fmt::format("Epoch {}/{}", r.epoch, r.epochs);
    for (auto & [k, v] : r.values.items()) {
        if (k == "lr") continue;
        line += fmt::format(" - {} {}", k, format_value(v.get<double>()));
    }
    line += fmt::format(" - {:.0f} ms, {:.0f} samples/s", r.seconds * 1e3, r.samples_per_s);
    if (animated_)
        fmt::print(stderr, "\r\033[2K{}\n", line);
    else
        fmt::print(stderr, "{}\n", line);
}

void ProgressPrinter::on_note(const std::string & message) {
    if (animated_) fmt::print(stderr, "\r\033[2K");
    note(message);
}

}  // namespace dlctl
