// Request framing (serve/http_frame.h): what a connection's bytes mean before any handler sees them.
#include <doctest/doctest.h>

#include <string>

#include "core/json_limits.h"
#include "serve/http_frame.h"

using dl::frame_request;
using dl::RequestFrame;
using State = RequestFrame::State;

namespace {
const dl::FrameLimits kLimits{.max_body_bytes = 1000};

RequestFrame frame(const std::string & bytes) { return frame_request(bytes, kLimits); }
}  // namespace

TEST_CASE("a whole request is framed, with its body and the bytes it used") {
    const std::string a =
        "POST /v1/models/housing:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
    const RequestFrame f = frame(a + "GET /healthz HTTP/1.1\r\n\r\n");
    REQUIRE(f.state == State::complete);
    CHECK(f.consumed == a.size());
    CHECK(f.request.method == "POST");
    CHECK(f.request.path == "/v1/models/housing:predict");
    CHECK(f.request.body == "hello");
    CHECK(*f.request.header("host") == "x");
    CHECK(f.request.keep_alive());
}

TEST_CASE("pipelined requests come out one at a time, in order") {
    std::string bytes = "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n";
    std::string paths;
    while (!bytes.empty()) {
        const RequestFrame f = frame(bytes);
        REQUIRE(f.state == State::complete);
        paths += f.request.path;
        bytes.erase(0, f.consumed);
    }
    CHECK(paths == "/a/b/c");
}

TEST_CASE("a request still arriving is incomplete, and says how much it needs") {
    CHECK(frame("GET /a HTTP/1.1\r\nHost: x\r\n").state == State::incomplete);
    const std::string head = "POST /a HTTP/1.1\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n";
    const RequestFrame f = frame(head + "abc");
    CHECK(f.state == State::incomplete);
    CHECK(f.headers_complete);
    CHECK(f.expect_continue);
    CHECK(f.bytes_needed == head.size() + 10);
}

TEST_CASE("lengths that could make one request read as two are refused") {
    // Defect: Content-Length: -5 waited 5 s for a 413; two different Content-Lengths were accepted; a POST
    // without Content-Length was closed with no answer.
    auto status = [](const std::string & headers) {
        return frame("POST /a HTTP/1.1\r\n" + headers + "\r\n").status;
    };
    CHECK(status("Content-Length: -5\r\n") == 400);
    CHECK(status("Content-Length: 5\r\nContent-Length: 6\r\n") == 400);
    CHECK(status("Content-Length: 5, 6\r\n") == 400);
    CHECK(status("Content-Length: 0x10\r\n") == 400);
    CHECK(status("Content-Length: 99999999999999999999999\r\n") == 400);
    CHECK(status("") == 411);
    CHECK(status("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n") == 400);
    CHECK(status("Transfer-Encoding: gzip\r\n") == 501);
    CHECK(status("Content-Length: 1001\r\n") == 413);  // from the headers alone, before any body byte
    CHECK(frame("POST /a HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok").state ==
          State::complete);
}

TEST_CASE("chunked bodies are de-chunked and bounded") {
    const RequestFrame f =
        frame("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n");
    REQUIRE(f.state == State::complete);
    CHECK(f.request.body == "abcde");
    CHECK(frame("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab").state == State::incomplete);
    CHECK(frame("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffff\r\n").status == 413);
    CHECK(frame("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").status == 400);
}

TEST_CASE("headers are bounded, and a request line that is not HTTP is refused at once") {
    CHECK(frame("GET /a HTTP/1.1\r\nX: " + std::string(20000, 'a')).status == 431);
    CHECK(frame("hello there\r\n").status == 400);  // before the headers end
    CHECK(frame("GET /a HTTP/2.0\r\n\r\n").status == 505);
    CHECK(frame("GET a HTTP/1.1\r\n\r\n").status == 400);
    CHECK(frame("GET /a HTTP/1.1\r\n folded\r\n\r\n").status == 400);
    CHECK(frame("GET /%zz HTTP/1.1\r\n\r\n").status == 400);
    std::string many = "GET /a HTTP/1.1\r\n";
    for (int i = 0; i < 200; ++i) many += "X: y\r\n";
    CHECK(frame(many + "\r\n").status == 431);
}

TEST_CASE("paths are percent-decoded without their query; HTTP/1.0 closes unless asked not to") {
    const RequestFrame f = frame("GET /v1/models/a%3Apredict?x=1 HTTP/1.0\r\n\r\n");
    REQUIRE(f.state == State::complete);
    CHECK(f.request.path == "/v1/models/a:predict");
    CHECK_FALSE(f.request.keep_alive());
    CHECK(frame("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").request.keep_alive());
    CHECK_FALSE(frame("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").request.keep_alive());
}

TEST_CASE("bounded JSON refuses deep nesting before parsing, whatever the shape") {
    // Defect: 70,000 nested '[' overflowed the stack of the recursive flatten and killed `dlctl serve`.
    const std::string deep = "{\"instances\": " + std::string(70000, '[') + std::string(70000, ']') + "}";
    CHECK(dl::json_nesting_depth(deep, 64) > 64);
    CHECK_THROWS_AS(dl::parse_json_bounded(deep, "body"), dl::Error);
    CHECK(dl::json_nesting_depth("{\"a\": \"[[[[[[\"}", 3) == 1);  // brackets inside strings do not count
    CHECK(dl::json_nesting_depth("[\"\\\"[[[\"]", 3) == 1);
    CHECK_THROWS_AS(dl::parse_json_bounded("[1]", "body", {.max_bytes = 2}), dl::Error);
    CHECK(dl::parse_json_bounded("[[1]]", "body").size() == 1);
    try {
        dl::parse_json_bounded("[1e999]", "body");
        FAIL("1e999 was accepted");
    } catch (const dl::Error & e) {
        CHECK(std::string(e.what()).find("json.exception") == std::string::npos);
        CHECK(e.code() == dl::ExitCode::bad_input);
    }
}
