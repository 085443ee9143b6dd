// HTTP/1.1 request framing for `dlctl serve`: decides from the bytes a connection has sent so far whether
// they hold a whole request, which request, or why they never will. Pure (no sockets), so the server's I/O
// loop, the tests and the fuzzer (fuzz/fuzz_http_request.cpp) all run the same code.
//   RequestFrame f = frame_request(buffer, {.max_body_bytes = 16 << 20});
//   if (f.state == RequestFrame::State::complete) { handle(f.request); buffer.erase(0, f.consumed); }
//   else if (f.state == RequestFrame::State::error) answer(f.status, f.message);   // then close
// Note [request framing]: what is refused here is what lets one request be read as two by something in
// between (request smuggling) or hold a connection open forever: two different Content-Lengths, a negative or
// non-decimal one, Transfer-Encoding beside Content-Length, an unknown transfer coding, a body-carrying
// method without a length (411), and headers or bodies over their limits (431, 413) — refused from the
// headers alone, before the body is waited for.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dl {

struct HttpRequest {
    std::string method;  // as sent: GET, POST, ...
    std::string target;  // as sent
    std::string path;    // percent-decoded, without the query
    int minor_version = 1;
    std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, values trimmed
    std::string body;                                          // de-chunked
    bool from_loopback = false;  // the peer is 127.0.0.0/8 or ::1 (set by HttpServer, not by the framer)

    const std::string * header(std::string_view lower_case_name) const;
    bool keep_alive() const;  // HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with "keep-alive"
};

struct FrameLimits {
    size_t max_header_bytes = 16 << 10;  // request line and headers
    size_t max_headers = 100;
    size_t max_target_bytes = 8 << 10;
    size_t max_body_bytes = 16 << 20;
};

struct RequestFrame {
    enum class State { incomplete, complete, error } state = State::incomplete;
    size_t consumed = 0;            // complete: the request's bytes at the buffer's start
    bool headers_complete = false;  // incomplete: the headers are in, the body is not (yet)
    bool expect_continue = false;   // the client waits for "100 Continue" before sending its body
    size_t bytes_needed = 0;        // incomplete with a Content-Length: the whole request's size
    int status = 0;                 // error: the HTTP status to answer with
    std::string message;            // error: why
    HttpRequest request;            // complete
};

RequestFrame frame_request(std::string_view buffer, const FrameLimits & limits);

// The offset just past the blank line that ends the headers, searching from `from`; npos when not there yet.
size_t find_header_end(std::string_view buffer, size_t from);

std::string_view http_reason(int status);

}  // namespace dl
