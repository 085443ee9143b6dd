#include "fake_registry.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>

#include "core/hash.h"
#include "harness.h"

namespace dlctl_fuzz {

namespace {

// A plain HTTP/1.1 server of its own (dlctl links no HTTP server library): a thread per connection, requests
// read by Content-Length or chunks, keep-alive, "100 Continue" when asked.
struct Registry {
    int listener = -1;
    int port = 0;
    std::mutex mu;
    std::deque<FakeAnswer> answers;

    Registry() {
        listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (listener < 0 || bind(listener, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0 ||
            listen(listener, 64) != 0 || getsockname(listener, reinterpret_cast<sockaddr *>(&a), &len) != 0)
            finding("fake registry", "cannot listen on 127.0.0.1");
        port = ntohs(a.sin_port);
        std::thread([this] {
            for (;;) {
                const int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
                if (fd >= 0) std::thread([this, fd] { serve(fd); }).detach();
            }
        }).detach();
    }

    FakeAnswer next(const std::string & method, const std::string & target) {
        if (const char * v = std::getenv("DLCTL_FUZZ_VERBOSE"); v && *v == '1')
            std::fprintf(stderr, "fake registry: %s %s\n", method.c_str(), target.c_str());
        std::lock_guard lock(mu);
        if (answers.empty()) return {.status = 404, .headers = "", .body = ""};
        FakeAnswer a = std::move(answers.front());
        answers.pop_front();
        return a;
    }

    static bool send_all(int fd, std::string_view bytes) {
        while (!bytes.empty()) {
            const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            bytes.remove_prefix(static_cast<size_t>(n));
        }
        return true;
    }

    static std::string lower(std::string s) {
        for (char & c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return s;
    }

    void serve(int fd) {
        std::string buf;
        char chunk[65536];
        // Reads until `buf` holds at least `n` bytes; false when the client has gone.
        auto fill = [&](size_t n) {
            while (buf.size() < n) {
                const ssize_t got = ::recv(fd, chunk, sizeof chunk, 0);
                if (got <= 0) return false;
                buf.append(chunk, static_cast<size_t>(got));
            }
            return true;
        };
        auto line_end = [&](size_t from) {
            for (;;) {
                const size_t at = buf.find("\r\n", from);
                if (at != std::string::npos) return at;
                if (!fill(buf.size() + 1)) return std::string::npos;
            }
        };
        for (;;) {
            size_t end = std::string::npos;
            while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
                if (!fill(buf.size() + 1)) return (void)::close(fd);
                // A TLS ClientHello (the client tries https first): closed at once, so that it falls back to
                // plain HTTP (--insecure) instead of waiting for a handshake.
                if (buf[0] == 0x16) return (void)::close(fd);
            }
            const std::string head = buf.substr(0, end);
            buf.erase(0, end + 4);
            const size_t sp1 = head.find(' '), sp2 = head.find(' ', sp1 + 1);
            const std::string method = head.substr(0, sp1), target = head.substr(sp1 + 1, sp2 - sp1 - 1);
            size_t content_length = 0;
            bool chunked = false, expect_continue = false;
            for (size_t at = head.find("\r\n"); at != std::string::npos;) {
                const size_t next = head.find("\r\n", at + 2);
                const std::string line =
                    head.substr(at + 2, next == std::string::npos ? std::string::npos : next - at - 2);
                at = next;
                const size_t colon = line.find(':');
                if (colon == std::string::npos) continue;
                const std::string name = lower(line.substr(0, colon)), value = lower(line.substr(colon + 1));
                if (name == "content-length") content_length = std::strtoull(value.c_str(), nullptr, 10);
                if (name == "transfer-encoding" && value.find("chunked") != std::string::npos) chunked = true;
                if (name == "expect" && value.find("100-continue") != std::string::npos)
                    expect_continue = true;
            }
            if (expect_continue && !send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n")) return (void)::close(fd);
            if (chunked) {
                for (;;) {  // the body itself is not needed: only where it ends
                    const size_t eol = line_end(0);
                    if (eol == std::string::npos) return (void)::close(fd);
                    const size_t size = std::strtoull(buf.substr(0, eol).c_str(), nullptr, 16);
                    buf.erase(0, eol + 2);
                    if (!fill(size + 2)) return (void)::close(fd);
                    buf.erase(0, size + 2);
                    if (size == 0) break;
                }
            } else {
                if (!fill(content_length)) return (void)::close(fd);
                buf.erase(0, content_length);
            }
            const FakeAnswer a = next(method, target);
            std::string out =
                fmt::format("HTTP/1.1 {} Fake\r\nContent-Length: {}\r\n", a.status, a.body.size());
            bool has_type = false;
            size_t start = 0;
            while (start < a.headers.size()) {
                const size_t eol = std::min(a.headers.find('\n', start), a.headers.size());
                std::string line = a.headers.substr(start, eol - start);
                start = eol + 1;
                const size_t colon = line.find(':');
                if (colon == std::string::npos || colon == 0 || line.find('\r') != std::string::npos)
                    continue;
                // The framing is the server's and libcurl's business; a script cannot break it.
                const std::string name = lower(line.substr(0, colon));
                if (name == "content-length" || name == "transfer-encoding" || name == "connection") continue;
                has_type = has_type || name == "content-type";
                out += line + "\r\n";
            }
            if (!has_type) out += "Content-Type: application/octet-stream\r\n";
            out += "\r\n";
            if (method != "HEAD") out += a.body;
            if (!send_all(fd, out)) return (void)::close(fd);
        }
    }
};

Registry & registry() {
    static Registry * r = new Registry();  // never destroyed: its threads serve until the process ends
    return *r;
}

std::string replace_all(std::string s, const std::string & from, const std::string & to) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
        s.replace(at, from.size(), to);
    return s;
}

}  // namespace

int fake_registry_port() { return registry().port; }

std::vector<FakeAnswer> parse_script(std::string_view script, int port) {
    std::vector<std::string_view> parts;
    for (size_t start = 0;;) {
        const size_t sep = script.find("\n--\n", start);
        parts.push_back(script.substr(start, sep == std::string_view::npos ? sep : sep - start));
        if (sep == std::string_view::npos) break;
        start = sep + 4;
    }
    std::vector<FakeAnswer> answers(parts.size());
    // From the last to the first, so that a body's references to later answers are already final.
    for (size_t i = parts.size(); i-- > 0;) {
        std::string_view p = parts[i];
        const size_t eol = std::min(p.find('\n'), p.size());
        const std::string status(p.substr(0, eol));
        answers[i].status = std::atoi(status.c_str());
        if (answers[i].status < 100 || answers[i].status > 599) answers[i].status = 200;
        p = eol < p.size() ? p.substr(eol + 1) : std::string_view{};
        const size_t blank = p.starts_with("\n") ? 0 : p.find("\n\n");
        std::string headers(p.substr(0, blank == std::string_view::npos ? p.size() : blank));
        std::string body(blank == std::string_view::npos ? std::string_view{}
                                                         : p.substr(blank + (blank == 0 ? 1 : 2)));
        auto resolve = [&](std::string text, size_t first_ref) {
            text = replace_all(std::move(text), "@PORT@", std::to_string(port));
            for (size_t j = first_ref; j < answers.size() && j < 10; ++j) {
                text = replace_all(std::move(text), fmt::format("@D{}@", j),
                                   "sha256:" + dl::sha256_hex(answers[j].body));
                text = replace_all(std::move(text), fmt::format("@S{}@", j),
                                   std::to_string(answers[j].body.size()));
            }
            return text;
        };
        answers[i].body = resolve(std::move(body), i + 1);
        answers[i].headers = resolve(std::move(headers), i);
    }
    return answers;
}

void fake_registry_play(std::string_view script) {
    fake_registry_play(parse_script(script, registry().port));
}

void fake_registry_play(std::vector<FakeAnswer> answers) {
    Registry & r = registry();
    std::lock_guard lock(r.mu);
    r.answers.assign(std::make_move_iterator(answers.begin()), std::make_move_iterator(answers.end()));
}

void isolate_network() {
    static const bool done = [] {
        setenv("ALL_PROXY", "http://127.0.0.1:9", 1);
        setenv("HTTPS_PROXY", "http://127.0.0.1:9", 1);
        setenv("http_proxy", "http://127.0.0.1:9", 1);
        setenv("NO_PROXY", "127.0.0.1", 1);
        setenv("no_proxy", "127.0.0.1", 1);
        const auto docker = scratch_dir() / "docker-config";
        std::filesystem::create_directories(docker);
        setenv("DOCKER_CONFIG", docker.c_str(), 1);
        return true;
    }();
    (void)done;
}

}  // namespace dlctl_fuzz
