// A training checkpoint's content (Note [resume]): written as model.h5, best.h5 and checkpoints/epoch-*.h5,
// read back to resume.
//   write_h5(path, pack_checkpoint(spec, stored_spec_yaml, run, params, opt, norm, table, st));
//   restore_checkpoint(read_h5(path), path, spec, {spec_yaml, stored_spec_yaml}, params, opt, st);
#pragma once

#include <string>
#include <vector>

#include "data/dataset.h"
#include "io/h5file.h"
#include "io/runs.h"
#include "model/session.h"
#include "optim/optimizer.h"
#include "spec/spec.h"
#include "train/callbacks.h"

namespace dl {

// Everything beyond parameters and optimizer slots that decides the rest of a run (Note [resume]).
struct LoopState {
    int64_t epoch = 0;           // epochs completed
    int64_t step = 0;            // optimizer steps done
    int64_t batch_in_epoch = 0;  // batches done in the epoch under way
    MetricSums partial;          // that epoch's sums so far
    CallbackState callbacks;
};

H5Content pack_checkpoint(const Spec & spec, const std::string & spec_yaml, const RunRef & run,
                          ParamStore & params, Optimizer & opt, const Normalizer & norm, const Table & table,
                          const LoopState & st);

// Loads checkpoint `c` (read from `path`) into the run being resumed, after checking that it belongs to this
// run: its spec is one of `spec_texts` (as stored now, or as format 1 stored it), its seed is the spec's, and
// every parameter and optimizer slot is there with the model's shape. Nothing is changed when it throws.
void restore_checkpoint(const H5Content & c, const std::string & path, const Spec & spec,
                        const std::vector<std::string> & spec_texts, ParamStore & params, Optimizer & opt,
                        LoopState & st);

}  // namespace dl
