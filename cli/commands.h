// THE table of subcommands: help, shell completions and the README's command section all read it.
//   for (const Command & c : commands()) c.setup(app);
#pragma once

#include <CLI/CLI.hpp>
#include <vector>

namespace dlctl {

struct Command {
    const char * name;
    const char * summary;
    void (*setup)(CLI::App & app, const char * name, const char * summary);
};

const std::vector<Command> & commands();

void setup_train(CLI::App &, const char *, const char *);
void setup_eval(CLI::App &, const char *, const char *);
void setup_diff(CLI::App &, const char *, const char *);
void setup_validate(CLI::App &, const char *, const char *);
void setup_render(CLI::App &, const char *, const char *);
void setup_graph(CLI::App &, const char *, const char *);
void setup_export(CLI::App &, const char *, const char *);
void setup_predict(CLI::App &, const char *, const char *);
void setup_runs(CLI::App &, const char *, const char *);
void setup_bench(CLI::App &, const char *, const char *);
void setup_serve(CLI::App &, const char *, const char *);
void setup_push(CLI::App &, const char *, const char *);
void setup_pull(CLI::App &, const char *, const char *);
void setup_package(CLI::App &, const char *, const char *);
void setup_label(CLI::App &, const char *, const char *);
void setup_promote(CLI::App &, const char *, const char *);
void setup_rollback(CLI::App &, const char *, const char *);
void setup_history(CLI::App &, const char *, const char *);
void setup_rollout(CLI::App &, const char *, const char *);

}  // namespace dlctl
