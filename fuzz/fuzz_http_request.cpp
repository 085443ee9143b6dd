// http_request: the bytes a client sends to `dlctl serve` -> the request framing its I/O loop runs on every
// read (serve/http_frame.h: request line, headers, Content-Length, chunked bodies, limits), as the bytes
// arrive: the input is fed in growing prefixes, `step` bytes more each time (byte 0 + 1), and every complete
// request is taken off the front as a pipelining client's would be. Invariants checked besides the
// sanitizers':
//   - a complete request consumes at least one byte and no more than the buffer holds;
//   - an error answers with a 4xx or 5xx status;
//   - the framing of a request never changes once it is complete: the whole input frames it the same way as
//     the prefix that first completed it (anything else is a request an intermediary could read differently:
//     request smuggling).
#include "harness.h"
#include "serve/http_frame.h"

namespace {

bool same_request(const dl::RequestFrame & a, const dl::RequestFrame & b) {
    return a.state == b.state && a.consumed == b.consumed && a.request.method == b.request.method &&
           a.request.target == b.request.target && a.request.body == b.request.body &&
           a.request.headers == b.request.headers;
}

}  // namespace

DLCTL_FUZZ_TARGET(http_request) {
    if (input.empty()) return;
    const size_t step = static_cast<unsigned char>(input[0]) + 1u;
    std::string_view rest = input.substr(1);
    const dl::FrameLimits limits{
        .max_header_bytes = 4096, .max_headers = 32, .max_target_bytes = 1024, .max_body_bytes = 8192};
    for (int requests = 0; requests < 64 && !rest.empty(); ++requests) {
        dl::RequestFrame first;
        size_t seen = 0;
        for (size_t n = std::min(step, rest.size());; n = std::min(n + step, rest.size())) {
            first = dl::frame_request(rest.substr(0, n), limits);
            seen = n;
            if (first.state != dl::RequestFrame::State::incomplete || n == rest.size()) break;
        }
        if (first.state == dl::RequestFrame::State::incomplete) return;
        if (first.state == dl::RequestFrame::State::error) {
            if (first.status < 400 || first.status > 599)
                dlctl_fuzz::finding("http_request",
                                    fmt::format("error with status {}: {}", first.status, first.message));
            return;
        }
        if (first.consumed == 0 || first.consumed > seen)
            dlctl_fuzz::finding("http_request", fmt::format("complete request consumed {} of {} bytes",
                                                            first.consumed, seen));
        const dl::RequestFrame whole = dl::frame_request(rest, limits);
        if (!same_request(first, whole))
            dlctl_fuzz::finding(
                "http_request",
                fmt::format("framed as {} {} ({} bytes) from the first {} bytes, but as state {} "
                            "{} {} ({} bytes) with {} bytes",
                            first.request.method, first.request.target, first.consumed, seen,
                            static_cast<int>(whole.state), whole.request.method, whole.request.target,
                            whole.consumed, rest.size()));
        first.request.keep_alive();
        rest.remove_prefix(first.consumed);
    }
}
