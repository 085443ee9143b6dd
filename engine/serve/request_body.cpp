#include "serve/request_body.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>

#include "infer/instances.h"
#include "model/bundle.h"
#include "serve/serve_errors.h"

namespace dl::serve {

void RowsReader::rows_format(const json & instances) {
    if (!instances.is_array()) reject(400, "\"instances\" must be a list, got {}", instances.type_name());
    for (size_t i = 0; i < instances.size(); ++i) instance(instances[i], fmt::format("instances[{}]", i));
}

void RowsReader::columnar_format(const json & inputs) {
    if (inputs.is_object() && !inputs.contains(kInputName) && !v_.features.empty())
        return feature_columns(inputs);
    const json & batch = inputs.is_object() && inputs.contains(kInputName) ? inputs[kInputName] : inputs;
    if (!batch.is_array())
        reject(400, "\"inputs\" must be a list of instances{}",
               v_.features.empty() ? "" : " or an object of feature columns");
    for (size_t i = 0; i < batch.size(); ++i) instance(batch[i], fmt::format("inputs[{}]", i));
}

void RowsReader::instance(const json & x, const std::string & where) {
    const size_t at = values_.size();
    values_.resize(at + static_cast<size_t>(v_.input_size));
    std::string why;
    if (!instance_to_row(x, model_, values_.data() + at, why)) reject(400, "{}: {}", where, why);
}

void RowsReader::feature_columns(const json & inputs) {
    const int64_t f = v_.input_size;
    int64_t n = -1;
    std::vector<float> rows;
    for (int64_t j = 0; j < f; ++j) {
        const std::string & name = v_.features[static_cast<size_t>(j)];
        const auto it = inputs.find(name);
        if (it == inputs.end()) reject(400, "inputs: no value for feature '{}'", name);
        const int64_t len = it->is_array() ? static_cast<int64_t>(it->size()) : 1;
        if (n < 0) {
            n = len;
            rows.resize(static_cast<size_t>(n * f));
        } else if (len != n) {
            reject(400, "inputs: feature '{}' has {} values, the one before {}", name, len, n);
        }
        for (int64_t r = 0; r < n; ++r) {
            const json & x = it->is_array() ? (*it)[static_cast<size_t>(r)] : *it;
            std::string why;
            if (!json_to_float(x, rows[static_cast<size_t>(r * f + j)], why))
                reject(400, "inputs: feature '{}'[{}]: {}", name, r, why);
        }
    }
    values_.insert(values_.end(), rows.begin(), rows.end());
}

namespace {

// Non-finite values as TF Serving writes them (NaN, Infinity, -Infinity), which its clients read back.
void append_number(std::string & out, float v) {
    if (std::isfinite(v))
        fmt::format_to(std::back_inserter(out), "{}", v);
    else
        out += std::isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
}

void append_row(std::string & out, const float * row, int64_t n) {
    out += '[';
    for (int64_t j = 0; j < n; ++j) {
        if (j) out += ", ";
        append_number(out, row[j]);
    }
    out += ']';
}

const std::string & label_of(const LoadedVersion & v, const float * probabilities) {
    return v.quoted_labels[static_cast<size_t>(
        std::max_element(probabilities, probabilities + v.output_size) - probabilities)];
}

}  // namespace

std::string prediction_reply(const LoadedVersion & v, const std::vector<float> & out, int64_t n,
                             bool columnar) {
    const int64_t k = v.output_size;
    std::string s;
    s.reserve(static_cast<size_t>(32 + n * k * 12));
    s += columnar ? "{\"outputs\": " : "{\"predictions\": ";
    if (!v.classifier) {
        s += '[';
        for (int64_t i = 0; i < n; ++i) {
            if (i) s += ", ";
            append_row(s, out.data() + i * k, k);
        }
        s += ']';
    } else if (!columnar) {
        s += '[';
        for (int64_t i = 0; i < n; ++i) {
            if (i) s += ", ";
            s += "{\"probabilities\": ";
            append_row(s, out.data() + i * k, k);
            s += ", \"label\": ";
            s += label_of(v, out.data() + i * k);
            s += '}';
        }
        s += ']';
    } else {
        s += "{\"probabilities\": [";
        for (int64_t i = 0; i < n; ++i) {
            if (i) s += ", ";
            append_row(s, out.data() + i * k, k);
        }
        s += "], \"label\": [";
        for (int64_t i = 0; i < n; ++i) {
            if (i) s += ", ";
            s += label_of(v, out.data() + i * k);
        }
        s += "]}";
    }
    s += "}\n";
    return s;
}

void classify_or_regress(const json & body, const LoadedVersion & v, bool classify, std::string & reply) {
    for (const auto & [key, value] : body.items())
        if (key != "examples" && key != "context" && key != "signature_name")
            reject(
                400,
                "unknown field \"{}\" (a {} request takes \"examples\", \"context\" and \"signature_name\")",
                key, classify ? "classify" : "regress");
    if (classify && !v.classifier)
        reject(400, "this model is a regression model: use :regress or :predict, not :classify");
    if (!classify && (v.classifier || v.output_size != 1))
        reject(400, "{}: use :classify or :predict, not :regress",
               v.classifier ? "this model is a classifier" : "this model has more than one output");
    const auto examples = body.find("examples");
    if (examples == body.end() || !examples->is_array() || examples->empty())
        reject(400, "\"examples\" must be a non-empty list of objects, e.g. [{{\"feature\": 1.5}}]");
    const auto context = body.find("context");
    if (context != body.end() && !context->is_object())
        reject(400, "\"context\" must be an object of features");
    const int64_t n = static_cast<int64_t>(examples->size());
    std::vector<float> rows(static_cast<size_t>(n * v.input_size));
    for (int64_t i = 0; i < n; ++i) {
        const json & example = (*examples)[static_cast<size_t>(i)];
        if (!example.is_object()) reject(400, "examples[{}]: an example is an object of features", i);
        json merged = context != body.end() ? *context : json::object();
        for (const auto & [key, value] : example.items()) merged[key] = value;
        std::string why;
        if (!instance_to_row(merged, v.batcher->model(), rows.data() + i * v.input_size, why))
            reject(400, "examples[{}]: {}", i, why);
    }
    std::vector<float> out(static_cast<size_t>(n * v.output_size));
    v.batcher->predict(rows.data(), n, out.data());
    reply = "{\"results\": [";
    for (int64_t i = 0; i < n; ++i) {
        if (i) reply += ", ";
        if (!classify) {
            append_number(reply, out[static_cast<size_t>(i)]);
            continue;
        }
        reply += '[';
        for (int64_t k = 0; k < v.output_size; ++k) {
            if (k) reply += ", ";
            reply += '[';
            reply += v.quoted_labels[static_cast<size_t>(k)];
            reply += ", ";
            append_number(reply, out[static_cast<size_t>(i * v.output_size + k)]);
            reply += ']';
        }
        reply += ']';
    }
    reply += "]}\n";
}

}  // namespace dl::serve
