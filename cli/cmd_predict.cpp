#include <fmt/format.h>

#include <filesystem>

#include "commands.h"
#include "core/fs.h"
#include "infer/instances.h"
#include "infer/predictor.h"
#include "model/bundle.h"
#include "report.h"

namespace dlctl {

namespace {

struct PredictOptions {
    std::string model, input, output, format, input_format, runs;
    int64_t batch = 256;
    int threads = 0;
};

std::string extension_format(const std::string & path) {
    const std::string ext = std::filesystem::path(path).extension().string();
    if (ext == ".csv") return "csv";
    if (ext == ".jsonl" || ext == ".ndjson" || ext == ".json") return "jsonl";
    return "";
}

dl::TrainedModel load_model(const std::string & ref, const std::string & runs) {
    return dl::load_trained(dl::resolve_model(ref, dl::runs_root(runs)));
}

// RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled.
std::string csv_field(const std::string & v) {
    if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
    std::string out = "\"";
    for (char c : v) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

// Floats as the shortest text that reads back to the same float.
std::string number(float v) { return fmt::format("{}", v); }

std::string render(const dl::Predictor & p, const std::vector<float> & out, int64_t rows,
                   const std::string & format) {
    const dl::TrainedModel & m = p.model();
    const int64_t k = p.output_size();
    std::string text;
    if (format == "csv") {
        std::vector<std::string> header = {"prediction"};
        if (p.classifier()) {
            for (const std::string & c : m.classes) header.push_back("probability_" + c);
        } else if (k > 1) {
            header.clear();
            for (const std::string & t : m.targets) header.push_back("prediction_" + t);
        }
        text += fmt::format("{}\n", fmt::join(header, ","));
    }
    std::vector<std::string> values;
    for (int64_t i = 0; i < rows; ++i) {
        const float * y = out.data() + i * k;
        values.clear();
        for (int64_t j = 0; j < k; ++j) values.push_back(number(y[j]));
        std::string label;
        if (p.classifier()) label = m.classes[static_cast<size_t>(std::max_element(y, y + k) - y)];
        if (format == "csv") {
            if (p.classifier()) text += csv_field(label) + ",";
            text += fmt::format("{}\n", fmt::join(values, ","));
        } else if (p.classifier()) {
            text += fmt::format("{{\"prediction\": {}, \"probabilities\": [{}]}}\n",
                                nlohmann::json(label).dump(), fmt::join(values, ", "));
        } else {
            text += k == 1 ? fmt::format("{{\"prediction\": {}}}\n", values[0])
                           : fmt::format("{{\"prediction\": [{}]}}\n", fmt::join(values, ", "));
        }
    }
    return text;
}

void run_predict(const PredictOptions & o) {
    const std::string in_format = !o.input_format.empty() ? o.input_format : extension_format(o.input);
    if (in_format.empty())
        throw dl::Error(
            dl::ExitCode::usage,
            fmt::format(
                "--input {}: cannot tell CSV from JSON lines by its name; add --input-format csv|jsonl",
                o.input));
    std::string out_format = o.format;
    if (out_format.empty() && !o.output.empty()) out_format = extension_format(o.output);
    if (out_format.empty()) out_format = "jsonl";
    if (o.batch < 1)
        throw dl::Error(dl::ExitCode::usage, fmt::format("--batch {}: must be at least 1", o.batch));

    dl::Predictor p(load_model(o.model, o.runs),
                    o.threads > 0 ? o.threads : dl::ThreadPool::hardware_threads());
    p.set_max_batch(o.batch);
    const dl::InputRows rows = dl::read_input_rows(o.input, in_format, p.model());
    std::vector<float> out(static_cast<size_t>(rows.rows * p.output_size()));
    p.predict(rows.values.data(), rows.rows, out.data());
    const std::string text = render(p, out, rows.rows, out_format);
    if (o.output.empty() || o.output == "-")
        fmt::print("{}", text);
    else
        dl::write_file_atomic(o.output, text);
}

}  // namespace

void setup_predict(CLI::App & app, const char * name, const char * summary) {
    auto o = std::make_shared<PredictOptions>();
    CLI::App * sub = app.add_subcommand(name, summary);
    sub->add_option(
           "model", o->model,
           "an export version directory (DIR/<name>/<version>), a run directory, NAME@VERSION or NAME@latest")
        ->required();
    sub->add_option("--input", o->input,
                    "rows to score: FILE.csv (columns matched by name) or FILE.jsonl; - for stdin")
        ->required();
    sub->add_option("--input-format", o->input_format, "csv or jsonl, when --input's name does not say")
        ->check(CLI::IsMember({"csv", "jsonl"}));
    sub->add_option("--output", o->output, "write here (atomically) instead of stdout");
    sub->add_option("--format", o->format, "csv or jsonl (default: from --output's name, else jsonl)")
        ->check(CLI::IsMember({"csv", "jsonl"}));
    sub->add_option("--batch", o->batch, "rows per engine call")->capture_default_str();
    sub->add_option("--threads", o->threads, "engine threads (default: all cores)");
    sub->add_option("--runs", o->runs, "root folder of versioned runs (default: $DLCTL_RUNS, else ./runs)");
    sub->callback([o] { run_predict(*o); });
}

}  // namespace dlctl
