// Output conventions: results (tables, --json) on stdout; diagnostics and progress on stderr; colour and
// animated progress only when stderr is a terminal.
//   if (stderr_is_tty()) ...;  note("resuming housing@3");  print_json(j);
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "train/trainer.h"

namespace dlctl {

bool stderr_is_tty();
void note(const std::string & message);  // "dlctl: note: ..." on stderr
void print_json(const nlohmann::ordered_json & j);
std::string format_value(double v);

// Training progress: a bar per epoch on a terminal, else one plain line per epoch.
class ProgressPrinter : public dl::TrainObserver {
public:
    explicit ProgressPrinter(bool animated) : animated_(animated) {}
    void on_start(const dl::Spec & spec, const dl::RunRef & run, int64_t rows, int64_t steps) override;
    void on_batch(int64_t epoch, int64_t batch, int64_t batches, double loss) override;
    void on_epoch(const dl::EpochReport & r) override;
    void on_note(const std::string & message) override;

private:
    bool animated_;
    int64_t epochs_ = 0, batch_size_ = 0;
    double last_draw_ = -1;
    // Where this epoch's throughput is measured from: the first batch seen in it (a resumed epoch starts
    // midway).
    int64_t rate_epoch_ = -1, rate_batch0_ = 0;
    double rate_t0_ = 0;
};

}  // namespace dlctl
