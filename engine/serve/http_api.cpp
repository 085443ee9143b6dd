// The HTTP API of `dlctl serve`: /healthz, /readyz, /metrics, and TF Serving's /v1/models (status, metadata,
// predict, classify, regress), with the version or label a request resolves to.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <functional>
#include <future>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string_view>

#include "core/error.h"
#include "core/json_limits.h"
#include "infer/instances.h"
#include "serve/model_server_impl.h"
#include "serve/request_body.h"
#include "serve/serve_errors.h"

namespace dl::serve {

// -----------------------------------------------------------------------------------------------------------
// Paths: /v1/models/<name>[/versions/<N>|/labels/<L>][/metadata|:predict|:classify|:regress] As in TF
// Serving's handler (its regexes are case-insensitive), "v1", "models", "versions", "labels", "metadata" and
// the verb may be in any case; the model name and label are matched as written.

struct Route {
    std::string model;
    enum class Selector { none, version, label } selector = Selector::none;
    std::string selected;  // the version number or label
    enum class Kind { status, metadata, predict, classify, regress } kind = Kind::status;
};

namespace {

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::optional<Route> parse_route(std::string_view path) {
    constexpr std::string_view prefix = "/v1/models/";
    if (path.size() < prefix.size() || !equals_ignoring_case(path.substr(0, prefix.size()), prefix))
        return std::nullopt;
    path.remove_prefix(prefix.size());
    Route r;
    if (const size_t colon = path.find(':'); colon != std::string_view::npos) {
        const std::string_view verb = path.substr(colon + 1);
        if (equals_ignoring_case(verb, "predict"))
            r.kind = Route::Kind::predict;
        else if (equals_ignoring_case(verb, "classify"))
            r.kind = Route::Kind::classify;
        else if (equals_ignoring_case(verb, "regress"))
            r.kind = Route::Kind::regress;
        else
            return std::nullopt;
        path = path.substr(0, colon);
    }
    std::vector<std::string_view> parts;
    for (size_t start = 0;;) {
        const size_t slash = path.find('/', start);
        parts.push_back(path.substr(start, slash == std::string_view::npos ? slash : slash - start));
        if (slash == std::string_view::npos) break;
        start = slash + 1;
        if (parts.size() > 4) return std::nullopt;
    }
    if (equals_ignoring_case(parts.back(), "metadata") && r.kind == Route::Kind::status && parts.size() > 1) {
        r.kind = Route::Kind::metadata;
        parts.pop_back();
    }
    if (parts.size() == 3 &&
        (equals_ignoring_case(parts[1], "versions") || equals_ignoring_case(parts[1], "labels"))) {
        r.selector =
            equals_ignoring_case(parts[1], "versions") ? Route::Selector::version : Route::Selector::label;
        r.selected = parts[2];
    } else if (parts.size() != 1) {
        return std::nullopt;
    }
    r.model = parts[0];
    if (r.model.empty() || (r.selector != Route::Selector::none && r.selected.empty())) return std::nullopt;
    return r;
}

// Stable across processes and platforms (std::hash is neither): FNV-1a, then splitmix64's finaliser.
uint64_t request_id_hash(std::string_view id) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : id) h = (h ^ c) * 1099511628211ull;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

}  // namespace

}  // namespace dl::serve

namespace dl {

using namespace serve;

void ModelServer::Impl::handle(const HttpRequest & req, HttpResponse & res) {
    const auto start = Clock::now();
    std::string model, method;
    int64_t version = -1;
    try {
        dispatch(req, res, model, version, method);
    } catch (const HttpError & e) {
        res.status = e.status;
        if (!e.allow.empty()) res.set_header("Allow", e.allow);
        res.body = error_body(e.what());
    } catch (const std::exception & e) {
        res.status = 500;
        res.body = error_body(e.what());
    }
    if ((method == "predict" || method == "classify" || method == "regress") && version >= 0)
        res.set_header("X-Model-Version", std::to_string(version));
    if (!method.empty())
        metrics.count_request(model, version, method, res.status,
                              std::chrono::duration<double>(Clock::now() - start).count());
}

bool ModelServer::Impl::ready() const {
    return std::all_of(models.begin(), models.end(), [](const auto & m) {
        const auto s = m->snapshot();
        return !s->versions.empty() && s->labels_ready;
    });
}

void ModelServer::Impl::dispatch(const HttpRequest & req, HttpResponse & res, std::string & model,
                                 int64_t & version, std::string & method) {
    const std::string & path = req.path;
    const bool get = req.method == "GET" || req.method == "HEAD";
    auto only = [&](bool allowed, const char * allow) {
        if (!allowed)
            throw HttpError(405, fmt::format("{} does not take {}; use {}", path, req.method, allow), allow);
    };
    if (path == "/healthz") {
        only(get, "GET");
        res.body = "{\"status\": \"ok\"}\n";
        return;
    }
    if (path == "/readyz") {
        only(get, "GET");
        ojson reply = {{"ready", ready()}};
        for (const auto & m : models) {
            ojson versions = ojson::array();
            for (const auto & [v, loaded] : m->snapshot()->versions) versions.push_back(v);
            reply["models"][m->name] = versions;
        }
        res.status = reply["ready"].get<bool>() ? 200 : 503;
        res.body = dump(reply) + "\n";
        return;
    }
    if (path == "/metrics") {
        only(get, "GET");
        std::map<std::string, size_t> loaded;
        for (const auto & m : models) loaded[m->name] = m->snapshot()->versions.size();
        res.body = metrics.render(loaded) + labels_metrics();
        res.content_type = "text/plain; version=0.0.4; charset=utf-8";
        return;
    }
    if (path.starts_with("/admin/")) return admin(req, res);
    if (options.bench_static_route && path == "/bench/static") {
        only(get || req.method == "POST", "GET, POST");
        res.body = "{\"predictions\": [[0.5]]}\n";
        return;
    }
    const std::optional<Route> route = parse_route(path);
    if (!route)
        reject(404,
               "no such resource: {} (the API is "
               "/v1/models/NAME[/versions/N|/labels/L][/metadata|:predict|:classify|:regress])",
               path.substr(0, 200));
    const bool inference = route->kind == Route::Kind::predict || route->kind == Route::Kind::classify ||
                           route->kind == Route::Kind::regress;
    method = route->kind == Route::Kind::predict    ? "predict"
             : route->kind == Route::Kind::classify ? "classify"
             : route->kind == Route::Kind::regress  ? "regress"
             : route->kind == Route::Kind::metadata ? "metadata"
                                                    : "status";
    const auto it = by_name.find(route->model);
    if (it == by_name.end()) {
        std::vector<std::string> names;
        for (const auto & m : models) names.push_back(m->name);
        reject(404, "Servable not found: no model '{}' (serving {})", route->model, fmt::join(names, ", "));
    }
    model = it->second->name;
    if (inference)
        only(req.method == "POST", "POST");
    else
        only(get, "GET");
    serve_v1(req, res, *route, *it->second, version);
}

std::shared_ptr<const LoadedVersion> ModelServer::Impl::resolve(const HttpRequest & req, const Route & route,
                                                                ServedModel & m, const ModelState & s,
                                                                Mirror * mirror) const {
    if (route.selector == Route::Selector::version) {
        if (!is_number_text(route.selected)) reject(400, "version '{}' is not a number", route.selected);
        const int64_t v = std::stoll(route.selected);
        if (const auto it = s.versions.find(v); it != s.versions.end()) return it->second;
        if (const auto it = s.refused.find(v); it != s.refused.end())
            reject(404, "{} version {} failed to load: {}", m.name, v, it->second);
        reject(404, "{} has no version {} (loaded: {})", m.name, v, join_versions(s));
    }
    if (route.selector == Route::Selector::label) {
        if (const auto it = s.labels.find(route.selected); it != s.labels.end())
            return s.versions.at(it->second);
        std::vector<std::string> labels;
        for (const auto & [label, v] : s.labels) labels.push_back(label);
        reject(404, "{} has no label '{}' (labels: {})", m.name, route.selected,
               labels.empty() ? "none" : fmt::format("{}", fmt::join(labels, ", ")));
    }
    if (s.versions.empty()) reject(503, "{} has no version loaded yet", m.name);
    auto labelled = [&](const char * label) -> std::shared_ptr<const LoadedVersion> {
        const auto it = s.labels.find(label);
        return it == s.labels.end() ? nullptr : s.versions.at(it->second);
    };
    std::shared_ptr<const LoadedVersion> stable = labelled("stable");
    if (!stable) stable = s.versions.rbegin()->second;  // TF Serving's default: the newest version
    const double percent = s.canary_percent.value_or(options.canary_percent);
    if (percent > 0 && route.kind != Route::Kind::status && route.kind != Route::Kind::metadata) {
        if (auto canary = labelled("canary"); canary && canary != stable) {
            const auto basis_points = static_cast<uint64_t>(std::llround(percent * 100));
            bool to_canary;
            if (const std::string * id = req.header("x-request-id")) {
                to_canary = request_id_hash(*id) % 10000 < basis_points;
            } else {
                // The n-th request goes to the canary when floor(n * p) steps up: exactly p of any run of
                // requests (within one), with the canary's requests spread evenly rather than in bursts.
                const uint64_t n = m.unlabelled.fetch_add(1, std::memory_order_relaxed);
                to_canary = (n + 1) * basis_points / 10000 > n * basis_points / 10000;
            }
            if (to_canary) {
                // Note [mirrored requests]: the canary's share also runs on the other version, so that how far
                // their answers are apart is measured; in shadow mode stable answers and the canary only runs.
                if (mirror) *mirror = {s.shadow ? canary : stable, s.shadow};
                return s.shadow ? stable : canary;
            }
        }
    }
    return stable;
}

void ModelServer::Impl::serve_v1(const HttpRequest & req, HttpResponse & res, const Route & route,
                                 ServedModel & m, int64_t & version) {
    const std::shared_ptr<const ModelState> s = m.snapshot();
    auto status_entry = [](int64_t v, const char * state, const char * code, const std::string & message) {
        return ojson{{"version", std::to_string(v)},
                     {"state", state},
                     {"status", {{"error_code", code}, {"error_message", message}}}};
    };
    if (route.kind == Route::Kind::status) {
        ojson list = ojson::array();
        if (route.selector == Route::Selector::version && is_number_text(route.selected) &&
            s->refused.contains(std::stoll(route.selected)) &&
            !s->versions.contains(std::stoll(route.selected))) {
            version = std::stoll(route.selected);
            list.push_back(status_entry(version, "END", "UNKNOWN", s->refused.at(version)));
        } else if (route.selector != Route::Selector::none) {
            const auto v = resolve(req, route, m, *s, nullptr);
            version = v->version;
            list.push_back(status_entry(version, "AVAILABLE", "OK", ""));
        } else {
            std::set<int64_t, std::greater<>> all;
            for (const auto & [v, loaded] : s->versions) all.insert(v);
            for (const auto & [v, why] : s->refused) all.insert(v);
            for (int64_t v : all) {
                if (s->versions.contains(v))
                    list.push_back(status_entry(v, "AVAILABLE", "OK", ""));
                else
                    list.push_back(status_entry(v, "END", "UNKNOWN", s->refused.at(v)));
            }
        }
        ojson reply = {{"model_version_status", list}};
        if (route.selector == Route::Selector::none) {
            // Beside TF Serving's field: what routes unlabelled requests, and why labels.json is refused.
            ojson labels = ojson::object();
            for (const auto & [label, v] : s->labels) labels[label] = std::to_string(v);
            reply["labels"] = labels;
            reply["canary_percent"] = s->canary_percent.value_or(options.canary_percent);
            if (s->shadow) reply["shadow"] = true;
            if (!s->labels_error.empty()) reply["labels_error"] = s->labels_error;
        }
        res.body = dump(reply, 1) + "\n";
        return;
    }
    Mirror mirror;
    const std::shared_ptr<const LoadedVersion> v = resolve(req, route, m, *s, &mirror);
    version = v->version;
    if (route.kind == Route::Kind::metadata) {
        res.body = v->metadata;
        return;
    }

    std::string text = req.body;
    rewrite_nonfinite_literals(text);
    json body;
    try {
        body = parse_json_bounded(text, "request body", {.max_depth = kMaxInstanceDepth});
    } catch (const Error & e) {
        reject(400, "JSON Parse error: {}", e.what());
    }
    if (!body.is_object())
        reject(400, "the request must be a JSON object with {}",
               route.kind == Route::Kind::predict ? "\"instances\" or \"inputs\"" : "\"examples\"");
    if (const auto it = body.find("signature_name"); it != body.end()) {
        if (!it->is_string() ||
            (it->get<std::string>() != "serving_default" && !it->get<std::string>().empty()))
            reject(400, "Serving signature name: {} not found in signature def (it has serving_default)",
                   dump(*it));
    }
    if (route.kind != Route::Kind::predict)
        return classify_or_regress(body, *v, route.kind == Route::Kind::classify, res.body);
    const bool rows_format = body.contains("instances"), columnar = body.contains("inputs");
    if (rows_format && columnar) reject(400, "the request has both \"instances\" and \"inputs\"; send one");
    if (!rows_format && !columnar)
        reject(400, "the request has neither \"instances\" (rows) nor \"inputs\" (columns)");
    for (const auto & [key, value] : body.items())
        if (key != "instances" && key != "inputs" && key != "signature_name")
            reject(
                400,
                "unknown field \"{}\" (a request takes \"instances\" or \"inputs\", and \"signature_name\")",
                key);
    RowsReader reader(*v);
    if (rows_format)
        reader.rows_format(body.at("instances"));
    else
        reader.columnar_format(body.at("inputs"));
    const int64_t n = reader.rows();
    if (n == 0) reject(400, "no instances to predict");
    std::vector<float> out(static_cast<size_t>(n * v->output_size));
    if (mirror.version &&
        (mirror.version->input_size != v->input_size || mirror.version->output_size != v->output_size ||
         mirror.version->classifier != v->classifier))
        mirror = {};  // different signatures: nothing to compare
    std::vector<float> mirrored_out;
    std::future<void> mirrored;
    const auto mirror_start = Clock::now();
    if (mirror.version) {
        mirrored_out.resize(out.size());
        mirrored = std::async(std::launch::async, [&] {
            mirror.version->batcher->predict(reader.values().data(), n, mirrored_out.data());
        });
    }
    v->batcher->predict(reader.values().data(), n, out.data());
    if (mirrored.valid()) record_mirror(m, *v, mirror, mirrored, out, mirrored_out, n, mirror_start);
    res.body = prediction_reply(*v, out, n, columnar);
}

}  // namespace dl

namespace dl {

using namespace serve;

namespace {

// Per row: the mean absolute difference of the outputs (regressors), or the total variation distance of the
// class probabilities (classifiers, in [0, 1]); summed over the rows.
double divergence_sum(const std::vector<float> & a, const std::vector<float> & b, int64_t rows, int64_t width,
                      bool classifier) {
    double total = 0;
    for (int64_t i = 0; i < rows; ++i) {
        double row = 0;
        for (int64_t j = 0; j < width; ++j)
            row += std::abs(static_cast<double>(a[i * width + j]) - static_cast<double>(b[i * width + j]));
        total += classifier ? row / 2 : row / static_cast<double>(width);
    }
    return total;
}

bool same_secret(std::string_view a, std::string_view b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (size_t i = 0; i < std::max(a.size(), b.size()); ++i)
        diff |= static_cast<unsigned char>((i < a.size() ? a[i] : 0) ^ (i < b.size() ? b[i] : 0));
    return diff == 0;
}

}  // namespace

void ModelServer::Impl::record_mirror(ServedModel & m, const LoadedVersion & answered, const Mirror & mirror,
                                      std::future<void> & mirrored, const std::vector<float> & out,
                                      const std::vector<float> & mirrored_out, int64_t rows,
                                      Clock::time_point start) {
    int code = 200;
    try {
        mirrored.get();
    } catch (const std::exception & e) {
        code = 500;
        log_once(m, "mirror:" + std::string(e.what()), LogLevel::error,
                 fmt::format("{}: version {} failed on a mirrored request: {}", m.name,
                             mirror.version->version, e.what()));
    }
    // The canary is the answering version unless it only shadows.
    const int64_t canary = mirror.shadow ? mirror.version->version : answered.version;
    if (mirror.shadow)
        metrics.count_request(m.name, canary, "shadow", code,
                              std::chrono::duration<double>(Clock::now() - start).count());
    if (code == 200)
        metrics.observe_divergence(
            m.name, canary,
            divergence_sum(out, mirrored_out, rows, answered.output_size, answered.classifier), rows);
}

std::string ModelServer::Impl::labels_metrics() const {
    std::string out =
        "# HELP dlctl_serve_labels_valid 1 while the model's labels.json is in effect, 0 while it is refused "
        "(the last good labels stay in effect; the reason is in the model's status).\n"
        "# TYPE dlctl_serve_labels_valid gauge\n";
    std::string refusals =
        "# HELP dlctl_serve_labels_refusals_total Contents of labels.json refused.\n"
        "# TYPE dlctl_serve_labels_refusals_total counter\n";
    std::string labels =
        "# HELP dlctl_serve_label_version The version each label names.\n"
        "# TYPE dlctl_serve_label_version gauge\n";
    std::string canary =
        "# HELP dlctl_serve_canary_percent Share of unlabelled requests routed (or, in shadow mode, "
        "mirrored) "
        "to the canary label's version.\n"
        "# TYPE dlctl_serve_canary_percent gauge\n";
    for (const auto & m : models) {
        const auto s = m->snapshot();
        out += fmt::format("dlctl_serve_labels_valid{{model=\"{}\"}} {}\n", m->name,
                           s->labels_error.empty() ? 1 : 0);
        refusals += fmt::format("dlctl_serve_labels_refusals_total{{model=\"{}\"}} {}\n", m->name,
                                m->labels_refusals.load(std::memory_order_relaxed));
        for (const auto & [label, version] : s->labels)
            labels += fmt::format("dlctl_serve_label_version{{model=\"{}\",label=\"{}\"}} {}\n", m->name,
                                  label, version);
        canary += fmt::format("dlctl_serve_canary_percent{{model=\"{}\"}} {}\n", m->name,
                              s->canary_percent.value_or(options.canary_percent));
    }
    return out + refusals + labels + canary;
}

// The admin API `dlctl rollout` drives: GET /admin/models/NAME (labels, their error, per-version counters) and
// POST /admin/models/NAME:reload (rescan now, answer once the rescan is done). Loopback clients only, unless
// serve has an admin token: then every client sends it as "Authorization: Bearer TOKEN".
void ModelServer::Impl::admin(const HttpRequest & req, HttpResponse & res) {
    if (!options.admin_token.empty()) {
        const std::string * auth = req.header("authorization");
        if (!auth || !same_secret(*auth, "Bearer " + options.admin_token))
            reject(401, "the admin API needs \"Authorization: Bearer TOKEN\" with serve's --admin-token");
    } else if (!req.from_loopback) {
        reject(
            403,
            "the admin API answers loopback clients only (start serve with --admin-token to allow others)");
    }
    constexpr std::string_view prefix = "/admin/models/";
    if (!req.path.starts_with(prefix))
        reject(404, "no such resource: {} (the admin API is /admin/models/NAME[:reload])",
               req.path.substr(0, 200));
    std::string name = req.path.substr(prefix.size());
    const bool reload = name.ends_with(":reload");
    if (reload) name.resize(name.size() - std::string_view(":reload").size());
    const auto it = by_name.find(name);
    if (it == by_name.end()) reject(404, "no model '{}'", name.substr(0, 200));
    if (reload) {
        if (req.method != "POST") throw HttpError(405, "use POST", "POST");
        std::unique_lock lock(stop_mutex);
        const uint64_t target = scans_started + 1;
        rescan_requested = true;
        stop_changed.notify_all();
        if (!scan_finished.wait_for(lock, std::chrono::seconds(10),
                                    [&] { return scans_done >= target || stop_requested; }))
            reject(503, "the rescan did not finish within 10 s");
    } else if (req.method != "GET" && req.method != "HEAD") {
        throw HttpError(405, "use GET", "GET");
    }
    const ServedModel & m = *it->second;
    const auto s = m.snapshot();
    ojson reply;
    reply["model"] = m.name;
    ojson labels = ojson::object();
    for (const auto & [label, v] : s->labels) labels[label] = v;
    reply["labels"] = labels;
    reply["canary_percent"] = s->canary_percent.value_or(options.canary_percent);
    reply["shadow"] = s->shadow;
    reply["labels_error"] = s->labels_error;
    ojson loaded = ojson::array();
    for (const auto & [v, version] : s->versions) loaded.push_back(v);
    reply["loaded"] = loaded;
    reply["versions"] = ojson::parse(metrics.version_stats(m.name).dump());
    res.body = dump(reply, 1) + "\n";
}

}  // namespace dl
