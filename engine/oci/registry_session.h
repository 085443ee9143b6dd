// One connection to a registry (libcurl, reused) for the registry client: requests whose answers are bounded
// (Note [bounded answers]), retries with backoff and Retry-After within --timeout (Note [bounded time] in
// registry_session.cpp), TLS or, with --insecure, plain HTTP, and authentication (registry_auth.h; the
// session's own part in registry_auth.cpp). Internal to oci/.
//   RegistrySession session(ref, options, "repository:models/housing:pull");
//   session.ping();  // GET /v2/: TLS, authentication, and whether a registry is there at all
//   Request r{.method = "HEAD", .url = session.repo_url("/blobs/" + digest)};
//   const Response res = session.send(r);  // retried while transient; a 401 logs in
//   if (res.status != 200) session.fail_unexpected(res, r, "checking blob " + digest);
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iterator>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "core/error.h"
#include "oci/registry_client.h"

namespace dl::oci::registry {

std::string to_lower(std::string s);

// Logged URLs keep only query parameters known to carry no secret (upload URLs carry signed state).
std::string loggable_url(const std::string & url);

struct Body {
    const std::string * bytes = nullptr;           // in memory, or:
    const std::filesystem::path * path = nullptr;  // a range of a file
    int64_t offset = 0, length = 0;
};

// Note [bounded answers]: nothing a registry sends is stored without a bound. A body that is not a blob
// (JSON, errors) is cut at kMaxDocumentBytes and the answer refused; a blob's body at the bytes still missing
// from it; headers at kMaxHeaderBytes in all. A registry that sends forever is thus refused, never waited
// for.
inline constexpr size_t kMaxHeaderBytes = 256 << 10;

struct Response {
    std::ostream * sink = nullptr;  // where a 2xx body goes (a downloaded blob) instead of `body`
    int64_t sink_limit = 0;         // the most bytes the sink may get (what the blob lacks)
    int64_t sink_written = 0;
    std::function<void(int64_t)> on_download;
    bool sink_started = false;
    std::string too_large;  // why the answer was cut, when it was
    size_t header_bytes = 0;
    CURLcode curl = CURLE_OK;
    std::string curl_error;
    long status = 0;
    std::multimap<std::string, std::string> headers;  // names lower-cased
    std::string body;
    std::string header(const std::string & name) const {
        auto range = headers.equal_range(name);
        return range.first == range.second ? "" : std::prev(range.second)->second;
    }
    // Connection errors, 5xx and 429 may pass; everything else is an answer.
    bool transient() const {
        return too_large.empty() && ((curl != CURLE_OK && !tls_rejected()) || status >= 500 || status == 429);
    }
    // A certificate that does not verify stays so: no retry, and a hint.
    bool tls_rejected() const {
        return curl == CURLE_PEER_FAILED_VERIFICATION || curl == CURLE_SSL_CACERT_BADFILE ||
               curl == CURLE_SSL_CERTPROBLEM || curl == CURLE_SSL_ISSUER_ERROR;
    }
};

struct Request {
    std::string method = "GET";
    std::string url;
    std::vector<std::string> headers;
    Body body;
    bool with_auth = true;          // false: the token realm, which gets Basic credentials instead
    std::ostream * sink = nullptr;  // a GET's 2xx body is written here
    int64_t sink_limit = 0;         // at most this many bytes
    bool follow_redirects = false;  // blob GETs: registries redirect to their storage
    bool finishes_blob = false;     // the PUT ending an upload: a registry may move a large blob meanwhile
};

class RegistrySession {
public:
    // `scope`: the token scope asked for first, e.g. "repository:models/housing:pull,push".
    RegistrySession(const RegistryReference & ref, const RegistryOptions & o, std::string scope);
    ~RegistrySession();
    RegistrySession(const RegistrySession &) = delete;
    RegistrySession & operator=(const RegistrySession &) = delete;

    std::string url(const std::string & path) const { return base_ + path; }
    // --insecure: a registry without TLS is spoken to in plain HTTP, as skopeo and docker do.
    void use_plain_http() { base_ = "http://" + ref_.registry; }
    std::string repo_url(const std::string & path) const { return base_ + "/v2/" + ref_.repository + path; }
    // A Location header may be absolute or relative to the registry.
    std::string resolve(const std::string & location) const {
        if (location.starts_with("http://") || location.starts_with("https://")) return location;
        return base_ + (location.starts_with("/") ? "" : "/") + location;
    }

    // Sends with authentication and retries; returns the first non-transient answer (401 handled inside).
    Response send(const Request & r);

    // Sleeps before retry `attempt`+1, or returns false when the retries are spent. Per Note [bounded time],
    // the retries of one request also stop once it has been failing for timeout_s (attempt 0 starts the
    // clock), and no wait reaches past that (a Retry-After that asks for more gives up at once), so a
    // registry that accepts connections and never answers is given up on after about 2 x timeout_s (60 s
    // by default) whatever --retries or Retry-After say, and one that refuses them after the retries'
    // backoff (6 s with the default 5).
    bool backoff(int attempt, const Response & res, const Request & r);

    [[noreturn]] void fail_unavailable(const Response & res, const Request & r);

    // An answer the distribution API does not allow: the registry misbehaves, which is 69 (a service that is
    // not usable), as the README's exit-code table says; a 403 is 77.
    [[noreturn]] void fail_unexpected(const Response & res, const Request & r, const std::string & what);

    // The registry answered, but not what the protocol promises (a digest that is not ours, garbage).
    [[noreturn]] void fail_misbehaving(const std::string & what) const;

    static std::string describe(const Response & res);

    void log(const std::string & line) const {
        if (o_.log) o_.log(line);
    }
    void warn(const std::string & line) const {
        if (o_.warn)
            o_.warn(line);
        else
            log(line);
    }

    // GET /v2/ finds out whether and how the registry authenticates (a 401 logs in), whether it speaks TLS,
    // and whether it is there at all.
    void ping();

    // After a failed TLS handshake: whether GET /v2/ in plain HTTP gets an HTTP answer (no credentials sent).
    bool speaks_plain_http();

    std::function<void(int64_t)> on_upload;    // bytes of the current body sent so far
    std::function<void(int64_t)> on_download;  // bytes of a body received since the last call

    // One attempt, authenticated (a 401 is answered by logging in and sending again), without retries: for
    // uploads, whose retries need more than sending the same request again.
    Response send_once(const Request & r);

private:
    Error denied(const std::string & why) const;

    void refresh_token_if_expired();
    void fetch_token();

    static size_t on_header(char * data, size_t size, size_t n, void * user);
    static size_t on_body(char * data, size_t size, size_t n, void * user);
    struct Upload;
    static size_t on_read(char * buffer, size_t size, size_t n, void * user);
    // curl rewinds a body to send it again on a fresh connection (a kept-alive one the server had closed).
    static int on_seek(void * user, curl_off_t offset, int origin);

    Response perform(const Request & r);

    CURL * curl_;
    const RegistryReference & ref_;
    const RegistryOptions & o_;
    std::string scope_;
    std::string base_;
    std::string username_, password_;
    bool use_basic_ = false;
    std::string realm_, service_, token_;
    bool widened_ = false;
    std::chrono::steady_clock::time_point token_expiry_;
    std::chrono::steady_clock::time_point failing_since_;  // when the current request first failed
    int attempts_ = 0;                                     // retries of the current request so far
};

}  // namespace dl::oci::registry
