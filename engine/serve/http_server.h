// The HTTP/1.1 server under `dlctl serve`: one I/O thread (epoll) reads every connection and frames its
// requests (serve/http_frame.h); only whole requests reach the worker threads that run the handler, so a
// client that sends slowly, or not at all, holds a file descriptor and never a worker.
//   HttpServer server({.host = "127.0.0.1", .port = 0, .workers = 8},
//                     [](const HttpRequest & q, HttpResponse & a) { a.body = "{}"; });
//                              // binds now: Error(unavailable) when the port is taken
//   std::thread t([&] { server.run(); });  // serves until stop()
//   server.stop();             // from any thread: stop accepting, answer the requests already read, return
// Note [connection deadlines]: a request must arrive whole within `request_timeout` of its first byte (else
// 408 and the connection is closed), an idle kept-alive connection is closed after `idle_timeout`, and a
// response must be taken by the client within `request_timeout` of being ready. Pipelined requests are
// answered in order, one at a time per connection. (Debian 12's cpp-httplib 0.11 serves a connection per
// worker thread with per-read timeouts only, and its form-body cap is compiled into the shared library: the
// reasons this loop exists.)
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "serve/http_frame.h"

namespace dl {

struct HttpResponse {
    int status = 200;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    void set_header(std::string name, std::string value) {
        headers.emplace_back(std::move(name), std::move(value));
    }
};

struct HttpServerOptions {
    std::string host = "127.0.0.1";
    int port = 0;      // 0: any free port
    int workers = 16;  // requests handled at once
    FrameLimits limits;
    std::chrono::milliseconds request_timeout{5000};
    std::chrono::milliseconds idle_timeout{30000};
    size_t max_connections = 10000;  // also bounded by the process's file descriptor limit
};

class HttpServer {
public:
    using Handler = std::function<void(const HttpRequest &, HttpResponse &)>;
    // The body of an answer the server gives itself (408, 413, ...), from its status and reason.
    using ErrorBody = std::function<std::string(int status, const std::string & message)>;

    HttpServer(HttpServerOptions options, Handler handler, ErrorBody error_body);
    ~HttpServer();
    HttpServer(const HttpServer &) = delete;
    HttpServer & operator=(const HttpServer &) = delete;

    int port() const;
    void run();   // until stop(); returns once the requests already read have been answered
    void stop();  // thread-safe, idempotent; also before run()

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// The bytes of a response: status line, Content-Type, Content-Length, the extra headers, the body (not for
// HEAD).
std::string serialize_response(const HttpResponse & response, bool head, bool close);

}  // namespace dl
