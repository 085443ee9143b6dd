#include "commands.h"

namespace dlctl {

// With DLCTL_SERVING_ONLY this is the table of dlctl-serve, the lean binary packaged into images by
// `dlctl package`: only what a container runs, and nothing that needs dlctl_oci (libarchive, libcurl).
const std::vector<Command> & commands() {
    static const std::vector<Command> table = {
#ifndef DLCTL_SERVING_ONLY
        {"train", "train a model from a YAML spec into a new version under runs/", setup_train},
        {"eval",
         "evaluate a trained version, or compare it --against a baseline on the same rows; --gate makes CI "
         "fail "
         "(exit 3) below a threshold",
         setup_eval},
        {"diff", "compare two versions: spec key by key, metrics, data digests and lineage", setup_diff},
        {"validate", "check a spec and its data without training", setup_validate},
        {"render", "print a spec with every default filled in", setup_render},
        {"graph", "print the training graph (text or Graphviz dot) before or after a pass", setup_graph},
        {"export", "write a trained version as ONNX, Keras HDF5 and dlctl's bundle in TF Serving's layout",
         setup_export},
        {"runs", "list trained versions and their metrics", setup_runs},
        {"bench", "time a training step per op and phase, and training and inference samples/s", setup_bench},
        {"label",
         "point a label (stable, canary, ...) of a model directory at a version; recorded in its history",
         setup_label},
        {"promote", "give one label the version of another (canary -> stable by default)", setup_promote},
        {"rollback", "move a label back to the version it had before", setup_rollback},
        {"history", "the label changes of a model directory: who, when, from, to, why", setup_history},
#ifndef DLCTL_NO_OCI  // built with DLCTL_OCI=OFF
        {"package",
         "build a small, reproducible OCI image of an exported model version, without a Docker daemon",
         setup_package},
        {"push",
         "push an OCI image layout, docker-archive or exported model version to a registry (OCI distribution "
         "API)",
         setup_push},
        {"pull",
         "fetch a model image (`package`, `push`) from a registry into a served directory as a new version",
         setup_pull},
        {"rollout",
         "raise a canary's traffic share step by step on a running serve; promote it, or roll it back on a "
         "breach",
         setup_rollout},
#endif
#endif
        {"predict", "score a CSV or JSON-lines file with a trained or exported version", setup_predict},
        {"serve", "serve exported versions over TF Serving's REST API (labels, canary, hot reload, batching)",
         setup_serve},
    };
    return table;
}

}  // namespace dlctl
