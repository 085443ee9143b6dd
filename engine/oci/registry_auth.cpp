#include "oci/registry_auth.h"

#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "core/error.h"
#include "oci/registry_documents.h"
#include "oci/registry_session.h"

namespace dl::oci::registry {

namespace fs = std::filesystem;

namespace {

std::optional<std::string> unbase64(std::string in) {
    in.erase(std::remove_if(in.begin(), in.end(),
                            [](char c) { return std::isspace(static_cast<unsigned char>(c)); }),
             in.end());
    if (in.empty() || in.size() % 4 != 0) return std::nullopt;
    std::string out(in.size() / 4 * 3, '\0');
    const int n =
        EVP_DecodeBlock(reinterpret_cast<unsigned char *>(out.data()),
                        reinterpret_cast<const unsigned char *>(in.data()), static_cast<int>(in.size()));
    if (n < 0) return std::nullopt;
    size_t pad = 0;
    while (pad < 2 && in[in.size() - 1 - pad] == '=') ++pad;
    out.resize(static_cast<size_t>(n) - pad);
    return out;
}

std::string url_escape(const std::string & s) {
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
            out += static_cast<char>(c);
        else
            out += fmt::format("%{:02X}", c);
    }
    return out;
}

// One parsed `WWW-Authenticate` challenge: scheme and its parameters (values unquoted; commas inside quotes
// kept).
struct Challenge {
    std::string scheme;
    std::map<std::string, std::string> params;
    std::string param(const std::string & key) const {
        auto it = params.find(key);
        return it == params.end() ? "" : it->second;
    }
};

Challenge parse_challenge(const std::string & header) {
    Challenge c;
    size_t i = header.find(' ');
    c.scheme = to_lower(header.substr(0, i));
    if (i == std::string::npos) return c;
    while (i < header.size()) {
        while (i < header.size() && (header[i] == ' ' || header[i] == ',')) ++i;
        const size_t eq = header.find('=', i);
        if (eq == std::string::npos) break;
        const std::string key = to_lower(header.substr(i, eq - i));
        i = eq + 1;
        std::string value;
        if (i < header.size() && header[i] == '"') {
            for (++i; i < header.size() && header[i] != '"'; ++i) {
                if (header[i] == '\\' && i + 1 < header.size()) ++i;
                value += header[i];
            }
            ++i;
        } else {
            const size_t end = std::min(header.find(',', i), header.size());
            value = header.substr(i, end - i);
            i = end;
        }
        c.params[key] = value;
    }
    return c;
}

}  // namespace

std::string base64(std::string_view in) {
    std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
    const int n =
        EVP_EncodeBlock(reinterpret_cast<unsigned char *>(out.data()),
                        reinterpret_cast<const unsigned char *>(in.data()), static_cast<int>(in.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

std::string origin_of(const std::string & url) {
    const auto scheme_end = url.find("://");
    if (scheme_end == std::string::npos) return "";
    const std::string scheme = to_lower(url.substr(0, scheme_end));
    const size_t host_start = scheme_end + 3;
    const size_t host_end = std::min(url.find_first_of("/?#", host_start), url.size());
    std::string authority = to_lower(url.substr(host_start, host_end - host_start));
    if (authority.find('@') != std::string::npos) return "";  // user@host: never ours
    const size_t bracket = authority.rfind(']');
    const size_t colon = authority.rfind(':');
    if (colon == std::string::npos || (bracket != std::string::npos && colon < bracket))
        authority += scheme == "https" ? ":443" : ":80";
    return scheme + "://" + authority;
}

std::string merge_scopes(const std::string & a, const std::string & b) {
    std::map<std::string, std::set<std::string>> merged;  // "repository:name" -> actions
    for (const std::string * list : {&a, &b}) {
        size_t start = 0;
        while (start < list->size()) {
            const size_t end = std::min(list->find(' ', start), list->size());
            const std::string scope = list->substr(start, end - start);
            start = end + 1;
            const auto colon = scope.rfind(':');
            if (scope.empty() || colon == std::string::npos) continue;
            auto & actions = merged[scope.substr(0, colon)];
            const std::string acts = scope.substr(colon + 1);
            size_t s = 0;
            while (s <= acts.size()) {
                const size_t e = std::min(acts.find(',', s), acts.size());
                if (e > s) actions.insert(acts.substr(s, e - s));
                s = e + 1;
            }
        }
    }
    std::vector<std::string> scopes;
    for (const auto & [resource, actions] : merged)
        scopes.push_back(fmt::format("{}:{}", resource, fmt::join(actions, ",")));
    return fmt::format("{}", fmt::join(scopes, " "));
}

std::pair<std::string, std::string> docker_config_credentials(const std::string & registry) {
    fs::path config;
    if (const char * dir = std::getenv("DOCKER_CONFIG"); dir && *dir)
        config = fs::path(dir) / "config.json";
    else if (const char * home = std::getenv("HOME"); home && *home)
        config = fs::path(home) / ".docker" / "config.json";
    std::error_code ec;
    if (config.empty() || !fs::is_regular_file(config, ec)) return {};
    json j;
    try {
        j = parse_json(read_file(config), config.string());
    } catch (const std::exception &) {
        return {};  // an unreadable docker config is as good as none; the registry will say what it wants
    }
    const json auths = j.is_object() && j.contains("auths") ? j["auths"] : json::object();
    for (const std::string & key : {registry, "https://" + registry, "http://" + registry}) {
        if (!auths.is_object() || !auths.contains(key)) continue;
        const auto decoded = unbase64(string_member(auths[key], "auth"));
        if (!decoded) continue;
        const auto colon = decoded->find(':');
        if (colon == std::string::npos) continue;
        return {decoded->substr(0, colon), decoded->substr(colon + 1)};
    }
    return {};
}

Response RegistrySession::send_once(const Request & r) {
    refresh_token_if_expired();
    for (;;) {
        Response res = perform(r);
        if (res.status != 401 || !r.with_auth) return res;
        const Challenge c = parse_challenge(res.header("www-authenticate"));
        if (c.scheme == "basic") {
            if (username_.empty())
                throw Error(ExitCode::denied,
                            fmt::format("registry {} requires authentication: give --username U "
                                        "--password-stdin (or docker login credentials in "
                                        "$DOCKER_CONFIG/config.json)",
                                        ref_.registry));
            if (use_basic_) throw denied("the credentials were rejected");
            use_basic_ = true;
        } else if (c.scheme == "bearer") {
            // The first challenge gets a token; a token short of scope is widened once to what the
            // registry asks for; any other 401 with a token in hand is final.
            const bool short_of_scope = c.param("error") == "insufficient_scope";
            if (!token_.empty() && (!short_of_scope || widened_))
                throw denied(short_of_scope ? "the token lacks the scope " + c.param("scope")
                                            : "the registry rejected the token");
            if (!token_.empty()) widened_ = true;
            if (!c.param("scope").empty()) scope_ = merge_scopes(scope_, c.param("scope"));
            realm_ = c.param("realm");
            service_ = c.param("service");
            DL_CHECK(!realm_.empty(), ExitCode::denied, "registry {}: a Bearer challenge without a realm",
                     ref_.registry);
            fetch_token();
        } else {
            throw denied(fmt::format("unsupported authentication scheme '{}'", c.scheme));
        }
    }
}

Error RegistrySession::denied(const std::string & why) const {
    return Error(
        ExitCode::denied,
        fmt::format("registry {} denied access{}: {}", ref_.registry,
                    username_.empty() ? " (anonymous)" : fmt::format(" for user '{}'", username_), why));
}

void RegistrySession::refresh_token_if_expired() {
    if (!token_.empty() && std::chrono::steady_clock::now() >= token_expiry_) fetch_token();
}

void RegistrySession::fetch_token() {
    std::string u = realm_ + (realm_.find('?') == std::string::npos ? "?" : "&");
    if (!service_.empty()) u += "service=" + url_escape(service_) + "&";
    size_t start = 0;
    while (start < scope_.size()) {
        const size_t end = std::min(scope_.find(' ', start), scope_.size());
        u += "scope=" + url_escape(scope_.substr(start, end - start)) + "&";
        start = end + 1;
    }
    u.pop_back();
    // The realm may be another host (docker's client sends it the credentials too), but never in clear
    // text behind a registry spoken to over TLS.
    if (!username_.empty() && !o_.insecure && to_lower(realm_).starts_with("http://"))
        throw denied(
            fmt::format("its token realm {} is plain HTTP: the credentials are not sent in clear "
                        "text (--insecure allows it)",
                        loggable_url(realm_)));
    Request r{.method = "GET", .url = u, .with_auth = false};
    Response res;
    for (int attempt = 0;; ++attempt) {
        res = perform(r);
        if (!res.transient()) break;
        if (!backoff(attempt, res, r)) fail_unavailable(res, r);
    }
    if (res.status == 401 || res.status == 403)
        throw denied(fmt::format("the token server {} refused the credentials (HTTP {})",
                                 loggable_url(realm_), res.status));
    if (res.status != 200) fail_unexpected(res, r, "fetching a token");
    json j;
    try {
        j = parse_json(res.body, "the token server's answer");
    } catch (const Error &) {
        fail_unexpected(res, r, "fetching a token (not JSON)");
    }
    token_ = string_member(j, "token");
    if (token_.empty()) token_ = string_member(j, "access_token");
    if (token_.empty()) throw denied("the token server answered without a token");
    // It goes into a header: no spaces, controls or bytes outside ASCII (RFC 6750's b64token and more).
    if (token_.size() > 64 * 1024 ||
        !std::all_of(token_.begin(), token_.end(), [](char c) { return c > 0x20 && c < 0x7F; })) {
        token_.clear();
        fail_misbehaving("the token server answered a token that is not printable ASCII");
    }
    const int64_t expires_in = j.contains("expires_in") && j["expires_in"].is_number_integer()
                                   ? std::clamp<int64_t>(j["expires_in"].get<int64_t>(), 0, 86400)
                                   : 60;
    // Renewed a little early so that a token never expires between check and use.
    token_expiry_ =
        std::chrono::steady_clock::now() + std::chrono::seconds(std::max<int64_t>(expires_in - 5, 1));
}

}  // namespace dl::oci::registry
