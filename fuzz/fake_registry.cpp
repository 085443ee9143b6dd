#include "fake_registry.h"

#include <httplib.h>

#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>

#include "core/hash.h"
#include "harness.h"

namespace dlctl_fuzz {

namespace {

struct Registry {
    httplib::Server server;
    int port = 0;
    std::mutex mu;
    std::deque<FakeAnswer> answers;

    Registry() {
        auto handler = [this](const httplib::Request & req, httplib::Response & res) {
            if (const char * v = std::getenv("DLCTL_FUZZ_VERBOSE"); v && *v == '1')
                std::fprintf(stderr, "fake registry: %s %s\n", req.method.c_str(), req.target.c_str());
            FakeAnswer a{.status = 404, .headers = "", .body = ""};
            {
                std::lock_guard lock(mu);
                if (!answers.empty()) {
                    a = std::move(answers.front());
                    answers.pop_front();
                }
            }
            res.status = a.status;
            std::string content_type = "application/octet-stream";
            size_t start = 0;
            while (start < a.headers.size()) {
                const size_t end = std::min(a.headers.find('\n', start), a.headers.size());
                const std::string line = a.headers.substr(start, end - start);
                start = end + 1;
                const size_t colon = line.find(':');
                if (colon == std::string::npos || colon == 0) continue;
                std::string name = line.substr(0, colon), value = line.substr(colon + 1);
                while (!value.empty() && value.front() == ' ') value.erase(0, 1);
                std::string lower = name;
                for (char & c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                // The framing is libcurl's business and the server's; a script cannot break it.
                if (lower == "content-length" || lower == "transfer-encoding" || lower == "connection")
                    continue;
                if (lower.find_first_of("\r\n") != std::string::npos || value.find('\r') != std::string::npos)
                    continue;
                if (lower == "content-type")
                    content_type = value;
                else
                    res.headers.emplace(name, value);
            }
            res.set_content(a.body, content_type);
        };
        server.Get(".*", handler);
        server.Post(".*", handler);
        server.Put(".*", handler);
        server.Patch(".*", handler);
        server.Delete(".*", handler);
        server.set_keep_alive_timeout(1);
        port = server.bind_to_any_port("127.0.0.1");
        if (port <= 0) finding("fake registry", "cannot bind 127.0.0.1");
        std::thread([this] { server.listen_after_bind(); }).detach();
    }
};

Registry & registry() {
    static Registry * r = new Registry();  // never destroyed: its thread serves until the process ends
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
