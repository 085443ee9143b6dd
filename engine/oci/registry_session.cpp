#include "oci/registry_session.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>

#include "oci/registry_auth.h"
#include "oci/registry_documents.h"

namespace dl::oci::registry {

std::string to_lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

std::string loggable_url(const std::string & url) {
    const auto q = url.find('?');
    if (q == std::string::npos) return url;
    static const std::set<std::string> safe = {"digest", "mount", "from", "service", "scope"};
    std::string out = url.substr(0, q), sep = "?";
    std::string query = url.substr(q + 1);
    size_t start = 0;
    while (start <= query.size()) {
        const size_t end = std::min(query.find('&', start), query.size());
        const std::string kv = query.substr(start, end - start);
        const std::string key = kv.substr(0, kv.find('='));
        out += sep + (safe.contains(key) ? kv : key + "=REDACTED");
        sep = "&";
        start = end + 1;
    }
    return out;
}

RegistrySession::RegistrySession(const RegistryReference & ref, const RegistryOptions & o, std::string scope)
    : ref_(ref), o_(o), scope_(std::move(scope)) {
    curl_ = curl_easy_init();
    DL_ASSERT(curl_ != nullptr);
    base_ = "https://" + ref.registry;
    username_ = o.username;
    password_ = o.password;
    if (username_.empty()) std::tie(username_, password_) = docker_config_credentials(ref.registry);
}

RegistrySession::~RegistrySession() { curl_easy_cleanup(curl_); }

Response RegistrySession::send(const Request & r) {
    for (int attempt = 0;; ++attempt) {
        Response res = send_once(r);
        if (!res.transient()) return res;
        if (!backoff(attempt, res, r)) fail_unavailable(res, r);
    }
}

bool RegistrySession::backoff(int attempt, const Response & res, const Request & r) {
    attempts_ = attempt;
    if (!res.too_large.empty()) return false;
    const auto now = std::chrono::steady_clock::now();
    if (attempt == 0) failing_since_ = now;
    const int64_t budget_ms =
        int64_t{o_.timeout_s} * 1000 -
        std::chrono::duration_cast<std::chrono::milliseconds>(now - failing_since_).count();
    if (attempt >= o_.retries || budget_ms <= 0) return false;
    int64_t ms = std::min<int64_t>(int64_t{o_.backoff_base_ms} << std::min(attempt, 10), 10'000);
    if (const std::string after = res.header("retry-after"); !after.empty()) {
        char * end = nullptr;
        const long long seconds = std::strtoll(after.c_str(), &end, 10);
        if (end != after.c_str() && seconds >= 0) {
            if (seconds > budget_ms / 1000) {
                warn(fmt::format(
                    "{} {}: the registry asks to retry after {} s, beyond --timeout {} s: "
                    "giving up",
                    r.method, loggable_url(r.url), std::min<long long>(seconds, 999'999'999), o_.timeout_s));
                return false;
            }
            ms = seconds * 1000;
        }
    }
    ms = std::min(ms, budget_ms);
    warn(fmt::format("retrying {} {} in {} ms ({}; attempt {} of {})", r.method, loggable_url(r.url), ms,
                     describe(res), attempt + 2, o_.retries + 1));
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return true;
}

void RegistrySession::fail_unavailable(const Response & res, const Request & r) {
    if (!res.too_large.empty()) fail_unexpected(res, r, "reading the answer");
    throw Error(ExitCode::unavailable,
                fmt::format("registry {} unavailable: {} {} failed after {} attempts: {}", ref_.registry,
                            r.method, loggable_url(r.url), attempts_ + 1, describe(res)));
}

void RegistrySession::fail_unexpected(const Response & res, const Request & r, const std::string & what) {
    std::string detail;
    if (res.too_large.empty())
        for (const char c : res.body.substr(0, 300))  // printable ASCII only: the registry wrote it
            if (c >= 0x20 && c < 0x7F) detail += c;
    throw Error(res.status == 403 ? ExitCode::denied : ExitCode::unavailable,
                fmt::format("registry {}: {}: {} {} answered {}{}", ref_.registry, what, r.method,
                            loggable_url(r.url), describe(res), detail.empty() ? "" : ": " + detail));
}

void RegistrySession::fail_misbehaving(const std::string & what) const {
    throw Error(ExitCode::unavailable, fmt::format("registry {} misbehaves: {}", ref_.registry, what));
}

std::string RegistrySession::describe(const Response & res) {
    if (!res.too_large.empty()) return res.too_large;
    if (res.curl != CURLE_OK) return res.curl_error;
    return fmt::format("HTTP {}", res.status);
}

void RegistrySession::ping() {
    Request ping{.method = "GET", .url = url("/v2/")};
    Response pong = send_once(ping);
    if (o_.insecure && pong.curl == CURLE_SSL_CONNECT_ERROR) {
        log("no TLS handshake with " + ref_.registry + ": trying plain HTTP (--insecure)");
        use_plain_http();
        ping.url = url("/v2/");
        pong = send_once(ping);
    }
    if (!o_.insecure && pong.curl == CURLE_SSL_CONNECT_ERROR && speaks_plain_http())
        throw Error(ExitCode::unavailable,
                    fmt::format("registry {}: no TLS handshake ({}): the registry speaks plain HTTP; use "
                                "--insecure",
                                ref_.registry, pong.curl_error));
    if (pong.tls_rejected())
        throw Error(ExitCode::unavailable,
                    fmt::format("registry {}: its TLS certificate does not verify: {} (a private CA can be "
                                "given in $CURL_CA_BUNDLE; --insecure skips verification)",
                                ref_.registry, pong.curl_error));
    for (int attempt = 0; pong.transient(); ++attempt) {
        if (!backoff(attempt, pong, ping)) fail_unavailable(pong, ping);
        pong = send_once(ping);
    }
    if (pong.status != 200) fail_unexpected(pong, ping, "not an OCI distribution registry");
}

bool RegistrySession::speaks_plain_http() {
    const std::string saved = base_;
    use_plain_http();
    Request probe{.method = "GET", .url = url("/v2/"), .with_auth = false};
    const bool saved_basic = use_basic_;
    const std::string saved_user = username_;
    username_.clear();  // with_auth = false would otherwise send Basic credentials
    const Response res = perform(probe);
    username_ = saved_user;
    use_basic_ = saved_basic;
    base_ = saved;
    return res.curl == CURLE_OK && res.status > 0;
}

size_t RegistrySession::on_header(char * data, size_t size, size_t n, void * user) {
    auto * res = static_cast<Response *>(user);
    res->header_bytes += size * n;
    if (res->header_bytes > kMaxHeaderBytes) {
        res->too_large = fmt::format("headers over {} KiB", kMaxHeaderBytes >> 10);
        return 0;  // aborts the transfer
    }
    std::string line(data, size * n);
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
    if (line.starts_with("HTTP/")) {
        res->headers.clear();  // a new response (after 100-continue or a redirect)
        // The status is needed before the body arrives, to know whether it goes to the sink.
        if (auto space = line.find(' '); space != std::string::npos)
            res->status = std::strtol(line.c_str() + space + 1, nullptr, 10);
    } else if (auto colon = line.find(':'); colon != std::string::npos) {
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        res->headers.emplace(to_lower(line.substr(0, colon)), value);
    }
    return size * n;
}

size_t RegistrySession::on_body(char * data, size_t size, size_t n, void * user) {
    auto * res = static_cast<Response *>(user);
    if (res->sink && res->status >= 200 && res->status < 300) {
        // A whole body (200) after a Range request that the server ignored replaces the partial file.
        if (!res->sink_started && res->status == 200) res->sink->seekp(0);
        res->sink_started = true;
        res->sink_written += static_cast<int64_t>(size * n);
        if (res->sink_written > res->sink_limit) {
            res->too_large = fmt::format("more than the {} bytes the blob has", res->sink_limit);
            return 0;
        }
        res->sink->write(data, static_cast<std::streamsize>(size * n));
        if (!*res->sink) return 0;  // a full disk aborts the transfer
        if (res->on_download) res->on_download(static_cast<int64_t>(size * n));
        return size * n;
    }
    if (res->body.size() + size * n > kMaxDocumentBytes) {
        res->too_large = fmt::format("a body over {} MiB", kMaxDocumentBytes >> 20);
        return 0;
    }
    res->body.append(data, size * n);  // error bodies and JSON only
    return size * n;
}

struct RegistrySession::Upload {
    const Body * body;
    std::ifstream file;
    int64_t sent = 0;
    RegistrySession * session;
};

size_t RegistrySession::on_read(char * buffer, size_t size, size_t n, void * user) {
    auto * up = static_cast<Upload *>(user);
    const int64_t want = std::min<int64_t>(static_cast<int64_t>(size * n), up->body->length - up->sent);
    if (want <= 0) return 0;
    if (up->body->bytes) {
        std::memcpy(buffer, up->body->bytes->data() + up->sent, static_cast<size_t>(want));
    } else {
        up->file.read(buffer, want);
        if (up->file.gcount() != want) return CURL_READFUNC_ABORT;
    }
    up->sent += want;
    if (up->session->on_upload) up->session->on_upload(up->sent);
    return static_cast<size_t>(want);
}

int RegistrySession::on_seek(void * user, curl_off_t offset, int origin) {
    auto * up = static_cast<Upload *>(user);
    if (origin != SEEK_SET || offset < 0 || offset > up->body->length) return CURL_SEEKFUNC_FAIL;
    if (up->body->path) {
        up->file.clear();
        up->file.seekg(up->body->offset + offset);
        if (!up->file) return CURL_SEEKFUNC_FAIL;
    }
    up->sent = offset;
    return CURL_SEEKFUNC_OK;
}

Response RegistrySession::perform(const Request & r) {
    curl_easy_reset(curl_);  // keeps the connection, DNS and TLS session caches
    Response res;
    res.sink = r.sink;
    res.sink_limit = r.sink_limit;
    res.on_download = on_download;
    if (r.follow_redirects) {
        // Per Note [credentials stay home], libcurl sends no Authorization header (ours is a custom one)
        // to another scheme, host or port when it follows a redirect (a storage backend's signed URL) as
        // long as CURLOPT_UNRESTRICTED_AUTH is off, which it is, explicitly.
        curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(curl_, CURLOPT_MAXREDIRS, 5L);
        curl_easy_setopt(curl_, CURLOPT_UNRESTRICTED_AUTH, 0L);
    }
    // A realm or Location naming file://, ftp:// or anything else is refused by libcurl itself.
    curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl_, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl_, CURLOPT_URL, r.url.c_str());
    curl_easy_setopt(curl_, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT, 10L);
    // Note [bounded time]: a request without a blob body must be answered whole within timeout_s; a blob
    // transfer may take as long as it needs but one stalled (under 1 KiB/s for 2 x timeout_s) is a
    // connection error, retried.
    const bool blob_transfer = r.sink != nullptr || r.body.path != nullptr || r.finishes_blob;
    if (!blob_transfer) curl_easy_setopt(curl_, CURLOPT_TIMEOUT, static_cast<long>(o_.timeout_s));
    curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_TIME,
                     static_cast<long>(blob_transfer ? 2 * o_.timeout_s : o_.timeout_s));
    curl_easy_setopt(curl_, CURLOPT_USERAGENT, "dlctl");
    if (o_.insecure) {
        curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &res);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &res);
    char error[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, error);
    // The curl tool's variable for a private CA (a company or test registry), honoured the same way.
    if (const char * ca = std::getenv("CURL_CA_BUNDLE"); ca && *ca)
        curl_easy_setopt(curl_, CURLOPT_CAINFO, ca);

    Upload up{.body = &r.body, .session = this};
    if (r.body.path) {
        up.file.open(*r.body.path, std::ios::binary);
        DL_CHECK(up.file, ExitCode::missing_input, "{}: cannot read", r.body.path->string());
        up.file.seekg(r.body.offset);
    }
    const bool has_body = r.body.bytes || r.body.path;
    if (r.method == "HEAD") {
        curl_easy_setopt(curl_, CURLOPT_NOBODY, 1L);
    } else if (r.method == "GET") {
        curl_easy_setopt(curl_, CURLOPT_HTTPGET, 1L);
    } else if (r.method == "POST" && !has_body) {
        curl_easy_setopt(curl_, CURLOPT_POST, 1L);
        curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE, 0L);
    } else {
        // PUT and PATCH, with or without a body: curl's upload mode streams it with a Content-Length.
        curl_easy_setopt(curl_, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(curl_, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(curl_, CURLOPT_READDATA, &up);
        curl_easy_setopt(curl_, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(curl_, CURLOPT_SEEKDATA, &up);
        curl_easy_setopt(curl_, CURLOPT_INFILESIZE_LARGE,
                         static_cast<curl_off_t>(has_body ? r.body.length : 0));
        if (r.method != "PUT") curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, r.method.c_str());
    }
    struct curl_slist * headers = nullptr;
    for (const std::string & h : r.headers) headers = curl_slist_append(headers, h.c_str());
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
    // Note [credentials stay home]: credentials and tokens go only to the registry's own scheme, host and
    // port (an upload Location on another host, a storage backend, gets none), and Basic credentials to
    // the token realm the registry names, as docker's client does.
    const bool home = origin_of(r.url) == origin_of(base_);
    if (!home && r.with_auth && (use_basic_ || !token_.empty()))
        log(fmt::format("{} is not {}: no credentials sent there", loggable_url(r.url), ref_.registry));
    if (!r.with_auth) {
        if (!username_.empty())
            headers = curl_slist_append(
                headers, ("Authorization: Basic " + base64(username_ + ":" + password_)).c_str());
    } else if (!home) {
    } else if (!token_.empty()) {
        headers = curl_slist_append(headers, ("Authorization: Bearer " + token_).c_str());
    } else if (use_basic_) {
        headers = curl_slist_append(headers,
                                    ("Authorization: Basic " + base64(username_ + ":" + password_)).c_str());
    }
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
    res.curl = curl_easy_perform(curl_);
    curl_slist_free_all(headers);
    if (!res.too_large.empty()) {  // refused, whatever its status said
        res.curl_error = res.too_large;
        res.headers.clear();
        res.status = 0;
    } else if (res.curl != CURLE_OK) {
        res.curl_error = error[0] ? error : curl_easy_strerror(res.curl);
        res.headers.clear();
        res.status = 0;
    } else {
        curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &res.status);
    }
    log(fmt::format("{} {} -> {}", r.method, loggable_url(r.url), describe(res)));
    return res;
}

}  // namespace dl::oci::registry
