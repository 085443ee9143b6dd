#include "serve/http_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "core/error.h"

namespace dl {

namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kListenerId = 0, kWakeId = 1;
constexpr size_t kReadChunk = 64 << 10;
// How long a connection closed after an error answer is read (and discarded) from, so that closing it does
// not reset the connection before the client has read the answer (RFC 9112 §9.6).
constexpr std::chrono::milliseconds kLingerTime{2000};

bool is_loopback(const sockaddr_storage & peer) {
    if (peer.ss_family == AF_INET)
        return (ntohl(reinterpret_cast<const sockaddr_in &>(peer).sin_addr.s_addr) >> 24) == 127;
    if (peer.ss_family == AF_INET6) {
        const in6_addr & a = reinterpret_cast<const sockaddr_in6 &>(peer).sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(&a)) return true;
        return IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127;  // ::ffff:127.x.y.z
    }
    return false;
}

void close_fd(int & fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

}  // namespace

std::string serialize_response(const HttpResponse & response, bool head, bool close) {
    std::string out;
    out.reserve(response.body.size() + 160);
    out += "HTTP/1.1 ";
    out += std::to_string(response.status);
    out += ' ';
    out += http_reason(response.status);
    out += "\r\nContent-Type: ";
    out += response.content_type;
    out += "\r\nContent-Length: ";
    out += std::to_string(response.body.size());
    out += "\r\n";
    for (const auto & [name, value] : response.headers) {
        out += name;
        out += ": ";
        out += value;
        out += "\r\n";
    }
    if (close) out += "Connection: close\r\n";
    out += "\r\n";
    if (!head) out += response.body;
    return out;
}

struct HttpServer::Impl {
    struct Connection {
        int fd = -1;
        uint64_t id = 0;
        enum class State { reading, processing, writing, lingering } state = State::reading;
        std::string in;
        size_t scanned = 0;       // no header end before this offset of `in`
        size_t bytes_needed = 0;  // the request is incomplete until `in` holds this many bytes
        bool request_started = false, continue_sent = false, close_after_write = false, line_checked = false;
        bool peer_closed = false;  // the client shut its side: answer what it sent, then close
        bool from_loopback = false;
        std::string out;
        size_t out_pos = 0;
        Clock::time_point deadline;
        uint32_t events = 0;
    };
    struct Job {
        uint64_t id;
        HttpRequest request;
    };
    struct Done {
        uint64_t id;
        std::string bytes;
        bool close;
    };

    HttpServerOptions options;
    Handler handler;
    ErrorBody error_body;
    int listen_fd = -1, epoll_fd = -1, wake_fd = -1;
    int bound_port = 0;
    std::atomic<bool> stopping{false};

    std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections;
    uint64_t next_id = 2;
    bool listener_open = true;
    Clock::time_point accept_paused_until{};

    std::mutex jobs_mutex;
    std::condition_variable jobs_changed;
    std::deque<Job> jobs;
    bool workers_stop = false;

    std::mutex done_mutex;
    std::vector<Done> done;

    Impl(HttpServerOptions o, Handler h, ErrorBody e)
        : options(std::move(o)), handler(std::move(h)), error_body(std::move(e)) {
        bind_listener();
        // One descriptor per connection: take what the hard limit allows, and keep some for model files.
        rlimit limit{};
        if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
            if (limit.rlim_cur < limit.rlim_max) {
                limit.rlim_cur = limit.rlim_max;
                ::setrlimit(RLIMIT_NOFILE, &limit);
                ::getrlimit(RLIMIT_NOFILE, &limit);
            }
            if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur > 128)
                options.max_connections = std::min<size_t>(options.max_connections, limit.rlim_cur - 64);
        }
        epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
        wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (epoll_fd < 0 || wake_fd < 0)
            throw Error(ExitCode::unavailable,
                        fmt::format("cannot start the HTTP server: {}", std::strerror(errno)));
        watch(listen_fd, kListenerId, EPOLLIN, EPOLL_CTL_ADD);
        watch(wake_fd, kWakeId, EPOLLIN, EPOLL_CTL_ADD);
    }

    ~Impl() {
        for (auto & [id, c] : connections) close_fd(c->fd);
        close_fd(listen_fd);
        close_fd(epoll_fd);
        close_fd(wake_fd);
    }

    void bind_listener() {
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
        addrinfo * found = nullptr;
        const std::string port_text = std::to_string(options.port);
        const std::string where = fmt::format("{}:{}", options.host, options.port);
        if (const int rc = ::getaddrinfo(options.host.empty() ? nullptr : options.host.c_str(),
                                         port_text.c_str(), &hints, &found);
            rc != 0)
            throw Error(ExitCode::unavailable,
                        fmt::format("cannot listen on {}: {}", where, ::gai_strerror(rc)));
        int err = 0;
        for (addrinfo * a = found; a; a = a->ai_next) {
            const int fd =
                ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
            if (fd < 0) {
                err = errno;
                continue;
            }
            // SO_REUSEADDR restarts quickly and still refuses a port in use (SO_REUSEPORT would share it).
            int yes = 1;
            ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
            if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, SOMAXCONN) == 0) {
                listen_fd = fd;
                break;
            }
            err = errno;
            ::close(fd);
        }
        ::freeaddrinfo(found);
        if (listen_fd < 0)
            throw Error(ExitCode::unavailable,
                        fmt::format("cannot listen on {}{}", where,
                                    err == EADDRINUSE
                                        ? ": the address is already in use (another server on that port?)"
                                        : fmt::format(": {}", std::strerror(err))));
        sockaddr_storage addr{};
        socklen_t len = sizeof(addr);
        ::getsockname(listen_fd, reinterpret_cast<sockaddr *>(&addr), &len);
        bound_port = addr.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6 &>(addr).sin6_port)
                                                : ntohs(reinterpret_cast<sockaddr_in &>(addr).sin_port);
    }

    void watch(int fd, uint64_t id, uint32_t events, int op) const {
        epoll_event ev{};
        ev.events = events;
        ev.data.u64 = id;
        ::epoll_ctl(epoll_fd, op, fd, &ev);
    }

    void set_events(Connection & c, uint32_t events) {
        if (c.events == events) return;
        c.events = events;
        watch(c.fd, c.id, events, EPOLL_CTL_MOD);
    }

    void wake() const {
        const uint64_t one = 1;
        [[maybe_unused]] const ssize_t n = ::write(wake_fd, &one, sizeof(one));
    }

    // ------------------------------------------------------------------------------------------------------
    // Workers: whole requests in, serialized responses out.

    void work() {
        while (true) {
            Job job;
            {
                std::unique_lock lock(jobs_mutex);
                jobs_changed.wait(lock, [&] { return workers_stop || !jobs.empty(); });
                if (jobs.empty()) return;
                job = std::move(jobs.front());
                jobs.pop_front();
            }
            HttpResponse response;
            try {
                handler(job.request, response);
            } catch (const std::exception &) {
                response = HttpResponse{};
                response.status = 500;
                response.body = error_body(500, "internal error");
            }
            const bool close = !job.request.keep_alive() || stopping.load();
            Done d{job.id, serialize_response(response, job.request.method == "HEAD", close), close};
            {
                std::lock_guard lock(done_mutex);
                done.push_back(std::move(d));
            }
            wake();
        }
    }

    // ------------------------------------------------------------------------------------------------------
    // The I/O loop.

    void close_connection(uint64_t id) {
        const auto it = connections.find(id);
        if (it == connections.end()) return;
        ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, it->second->fd, nullptr);
        close_fd(it->second->fd);
        connections.erase(it);
    }

    void accept_all() {
        while (listener_open) {
            sockaddr_storage peer{};
            socklen_t peer_size = sizeof peer;
            const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr *>(&peer), &peer_size,
                                     SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                    // Out of descriptors: stop listening for a moment rather than spin on a readable
                    // listener.
                    accept_paused_until = Clock::now() + std::chrono::milliseconds(100);
                    watch(listen_fd, kListenerId, 0, EPOLL_CTL_MOD);
                }
                return;  // EAGAIN, or a connection that went away before it was accepted
            }
            if (connections.size() >= options.max_connections) {
                ::close(fd);
                continue;
            }
            int yes = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));  // small replies: no Nagle delay
            auto c = std::make_unique<Connection>();
            c->fd = fd;
            c->id = next_id++;
            c->from_loopback = is_loopback(peer);
            c->events = EPOLLIN;
            c->deadline = Clock::now() + options.idle_timeout;
            watch(fd, c->id, EPOLLIN, EPOLL_CTL_ADD);
            connections.emplace(c->id, std::move(c));
        }
    }

    // Sends what is left of c.out; false when the connection was closed.
    bool flush(Connection & c) {
        while (c.out_pos < c.out.size()) {
            const ssize_t n = ::send(c.fd, c.out.data() + c.out_pos, c.out.size() - c.out_pos, MSG_NOSIGNAL);
            if (n > 0) {
                c.out_pos += static_cast<size_t>(n);
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                if (c.state != Connection::State::writing)
                    c.deadline = Clock::now() + options.request_timeout;
                c.state = Connection::State::writing;
                set_events(c, EPOLLOUT);
                return true;
            }
            if (n < 0 && errno == EINTR) continue;
            close_connection(c.id);
            return false;
        }
        c.out.clear();
        c.out_pos = 0;
        if (c.close_after_write) {
            // Read what the client still sends until it closes or the linger time ends, then close.
            ::shutdown(c.fd, SHUT_WR);
            c.state = Connection::State::lingering;
            c.deadline = Clock::now() + kLingerTime;
            set_events(c, EPOLLIN);
            return true;
        }
        c.state = Connection::State::reading;
        set_events(c, c.peer_closed ? 0u : static_cast<uint32_t>(EPOLLIN));
        const uint64_t id = c.id;
        if (!advance(c)) return false;
        if (c.peer_closed && c.state == Connection::State::reading) {
            close_connection(id);
            return false;
        }
        return true;
    }

    bool answer_error(Connection & c, int status, const std::string & message) {
        HttpResponse r;
        r.status = status;
        r.body = error_body(status, message);
        c.out = serialize_response(r, false, true);
        c.out_pos = 0;
        c.close_after_write = true;
        return flush(c);
    }

    // Frames what c.in holds: waits for more, answers an error, or hands a whole request to the workers.
    bool advance(Connection & c) {
        if (c.state != Connection::State::reading) return true;
        const Clock::time_point now = Clock::now();
        if (c.in.empty()) {
            if (c.request_started || c.deadline < now) c.deadline = now + options.idle_timeout;
            c.request_started = false;
            return true;
        }
        if (!c.request_started) {
            c.request_started = true;
            c.deadline = now + options.request_timeout;
        }
        if (c.bytes_needed > 0 && c.in.size() < c.bytes_needed) return true;
        if (c.bytes_needed == 0) {
            // Headers still coming: scan only the new bytes, and refuse early what cannot become a request
            // (headers over the limit; a request line that is not HTTP, checked once when it is whole).
            const size_t from = c.scanned > 3 ? c.scanned - 3 : 0;
            if (find_header_end(c.in, from) == std::string::npos) {
                c.scanned = c.in.size();
                const bool line_whole = c.in.find('\n', c.in.find_first_not_of("\r\n")) != std::string::npos;
                if (c.in.size() > options.limits.max_header_bytes + 4 || (line_whole && !c.line_checked)) {
                    c.line_checked = line_whole;
                    RequestFrame early = frame_request(c.in, options.limits);
                    if (early.state == RequestFrame::State::error)
                        return answer_error(c, early.status, early.message);
                }
                return true;
            }
        }
        RequestFrame f = frame_request(c.in, options.limits);
        switch (f.state) {
            case RequestFrame::State::incomplete:
                c.bytes_needed = f.bytes_needed;
                if (f.expect_continue && !c.continue_sent) {
                    c.continue_sent = true;
                    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
                    [[maybe_unused]] const ssize_t n =
                        ::send(c.fd, kContinue.data(), kContinue.size(), MSG_NOSIGNAL);
                }
                return true;
            case RequestFrame::State::error:
                return answer_error(c, f.status, f.message);
            case RequestFrame::State::complete:
                break;
        }
        c.in.erase(0, f.consumed);
        c.scanned = 0;
        c.bytes_needed = 0;
        c.continue_sent = false;
        c.line_checked = false;
        c.request_started = false;
        c.state = Connection::State::processing;
        set_events(c, 0);  // pipelined requests wait in the socket until this one is answered
        {
            std::lock_guard lock(jobs_mutex);
            f.request.from_loopback = c.from_loopback;
            jobs.push_back(Job{c.id, std::move(f.request)});
        }
        jobs_changed.notify_one();
        return true;
    }

    void on_readable(Connection & c) {
        if (c.state == Connection::State::lingering) {
            char sink[4096];
            while (true) {
                const ssize_t n = ::recv(c.fd, sink, sizeof(sink), 0);
                if (n > 0) continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
                if (n < 0 && errno == EINTR) continue;
                close_connection(c.id);
                return;
            }
        }
        if (c.state != Connection::State::reading) return;
        const size_t cap = options.limits.max_header_bytes + options.limits.max_body_bytes + 4096;
        while (true) {
            if (c.in.size() >= cap) break;  // framing refuses it below: nothing more is needed
            const size_t at = c.in.size();
            const size_t want = std::min(kReadChunk, cap - at);
            c.in.resize(at + want);
            const ssize_t n = ::recv(c.fd, c.in.data() + at, want, 0);
            if (n > 0) {
                c.in.resize(at + static_cast<size_t>(n));
                if (static_cast<size_t>(n) < want) break;
                continue;
            }
            c.in.resize(at);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                close_connection(c.id);  // reset
                return;
            }
            c.peer_closed = true;  // a half-close: what was sent before it is still answered
            break;
        }
        const uint64_t id = c.id;
        if (!advance(c)) return;
        if (c.peer_closed && c.state == Connection::State::reading && connections.contains(id))
            close_connection(id);
    }

    void take_done() {
        std::vector<Done> ready;
        {
            std::lock_guard lock(done_mutex);
            ready.swap(done);
        }
        for (Done & d : ready) {
            const auto it = connections.find(d.id);
            if (it == connections.end()) continue;
            Connection & c = *it->second;
            c.out = std::move(d.bytes);
            c.out_pos = 0;
            c.close_after_write = d.close || stopping.load() || c.peer_closed;
            c.state = Connection::State::writing;
            flush(c);
        }
    }

    void expire(Clock::time_point now) {
        std::vector<uint64_t> due;
        for (const auto & [id, c] : connections)
            if (c->state != Connection::State::processing && c->deadline < now) due.push_back(id);
        for (uint64_t id : due) {
            Connection & c = *connections.at(id);
            if (c.state == Connection::State::reading && c.request_started)
                answer_error(c, 408,
                             fmt::format("the request was not received whole within {} s",
                                         std::chrono::duration<double>(options.request_timeout).count()));
            else
                close_connection(id);
        }
        if (listener_open && accept_paused_until != Clock::time_point{} && accept_paused_until < now) {
            accept_paused_until = {};
            watch(listen_fd, kListenerId, EPOLLIN, EPOLL_CTL_MOD);
        }
    }

    void begin_stop() {
        if (!listener_open) return;
        listener_open = false;
        ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, listen_fd, nullptr);
        close_fd(listen_fd);
        // Idle connections close now; a request partly received may still arrive whole within its deadline.
        std::vector<uint64_t> idle;
        for (const auto & [id, c] : connections)
            if ((c->state == Connection::State::reading && !c->request_started) ||
                c->state == Connection::State::lingering)
                idle.push_back(id);
        for (uint64_t id : idle) close_connection(id);
    }

    void loop() {
        std::vector<epoll_event> events(256);
        Clock::time_point last_expiry = Clock::now(), drain_deadline{};
        while (true) {
            if (stopping.load()) {
                if (listener_open) {
                    begin_stop();
                    drain_deadline = Clock::now() + options.request_timeout * 2;
                }
                if (connections.empty() || Clock::now() > drain_deadline) break;
            }
            const int n = ::epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), 100);
            for (int i = 0; i < n; ++i) {
                const uint64_t id = events[static_cast<size_t>(i)].data.u64;
                const uint32_t ev = events[static_cast<size_t>(i)].events;
                if (id == kListenerId) {
                    accept_all();
                } else if (id == kWakeId) {
                    uint64_t count = 0;
                    [[maybe_unused]] const ssize_t r = ::read(wake_fd, &count, sizeof(count));
                    take_done();
                } else if (const auto it = connections.find(id); it != connections.end()) {
                    Connection & c = *it->second;
                    if (c.state == Connection::State::processing) {
                        // Only a hang-up or an error is reported while a request is processed: the client is
                        // gone, and its answer will be dropped.
                        if (ev & (EPOLLHUP | EPOLLERR)) close_connection(id);
                    } else if (ev & EPOLLOUT) {
                        if (c.state == Connection::State::writing) flush(c);
                    } else if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                        on_readable(c);
                    }
                }
            }
            const Clock::time_point now = Clock::now();
            if (now - last_expiry >= std::chrono::milliseconds(50)) {
                expire(now);
                last_expiry = now;
            }
        }
        std::vector<uint64_t> left;
        for (const auto & [id, c] : connections) left.push_back(id);
        for (uint64_t id : left) close_connection(id);
    }
};

HttpServer::HttpServer(HttpServerOptions options, Handler handler, ErrorBody error_body)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler), std::move(error_body))) {}

HttpServer::~HttpServer() = default;

int HttpServer::port() const { return impl_->bound_port; }

void HttpServer::run() {
    Impl & s = *impl_;
    std::vector<std::thread> workers;
    for (int i = 0; i < std::max(1, s.options.workers); ++i) workers.emplace_back([&s] { s.work(); });
    s.loop();
    {
        std::lock_guard lock(s.jobs_mutex);
        s.workers_stop = true;
    }
    s.jobs_changed.notify_all();
    for (std::thread & t : workers) t.join();
}

void HttpServer::stop() {
    impl_->stopping = true;
    impl_->wake();
}

}  // namespace dl
