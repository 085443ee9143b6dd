// dlctl: one binary from a YAML spec to a trained, evaluated model. This file builds the command line from
// the command table and is the only place that turns errors into messages and exit codes (Note [exit codes]).
#include <CLI/CLI.hpp>
#include <Eigen/Core>
#include <iostream>

#include "commands.h"
#include "core/error.h"
#include "core/text.h"
#include "core/version.h"
#include "report.h"

int main(int argc, char ** argv) {
    CLI::App app{"dlctl: train, evaluate and manage deep-learning models from YAML specs", "dlctl"};
    app.set_help_all_flag("--help-all", "print help for every subcommand");
    bool version = false, version_json = false;
    app.add_flag("--version", version, "print the version and exit");
    app.add_flag("--json", version_json, "with --version: print the version as JSON");
    for (const dlctl::Command & c : dlctl::commands()) c.setup(app, c.name, c.summary);
    app.require_subcommand(0, 1);
    try {
        app.parse(argc, argv);
        if (version) {
            if (version_json) {
                nlohmann::ordered_json j;
                j["version"] = DLCTL_VERSION;
                j["git"] = dl::git_describe();
                j["build_type"] = DLCTL_BUILD_TYPE;
                j["cuda"] = static_cast<bool>(DLCTL_HAVE_CUDA);
                j["blas"] = fmt::format("Eigen {}.{}.{}", EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION,
                                        EIGEN_MINOR_VERSION);
                dlctl::print_json(j);
            } else {
                fmt::print("dlctl {} ({})\n", DLCTL_VERSION, dl::git_describe());
            }
            return 0;
        }
        if (app.get_subcommands().empty()) {
            std::cerr << app.help();
            return 2;
        }
    } catch (const CLI::CallForHelp & e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp & e) {
        return app.exit(e);
    } catch (const CLI::ParseError & e) {
        // CLI11's own codes (100+) all mean "usage error" to our users and scripts.
        fmt::print(stderr, "dlctl: error: {}\n", dl::printable(e.what(), /*keep_newlines=*/true));
        fmt::print(stderr, "Run 'dlctl --help' for usage.\n");
        return static_cast<int>(dl::ExitCode::usage);
    } catch (const dl::Error & e) {
        // Messages quote user files, names and values: escaped, so that no input can drive the terminal.
        fmt::print(stderr, "dlctl: error: {}\n", dl::printable(e.what(), /*keep_newlines=*/true));
        return static_cast<int>(e.code());
    } catch (const std::exception & e) {
        fmt::print(stderr, "dlctl: error: internal error: {} (this is a bug in dlctl; please report it)\n",
                   dl::printable(e.what(), /*keep_newlines=*/true));
        return static_cast<int>(dl::ExitCode::internal);
    }
    return 0;
}
