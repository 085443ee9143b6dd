#include "serve/http_frame.h"

#include <algorithm>
#include <cstdint>

namespace dl {

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool is_token_char(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

RequestFrame error(int status, std::string message) {
    RequestFrame f;
    f.state = RequestFrame::State::error;
    f.status = status;
    f.message = std::move(message);
    return f;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// "%2F" and friends; false on a broken escape. '+' stays '+' (it means a space only in form bodies).
bool percent_decode(std::string_view in, std::string & out) {
    out.clear();
    for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            out += in[i];
            continue;
        }
        if (i + 2 >= in.size()) return false;
        const int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
        if (hi < 0 || lo < 0) return false;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return true;
}

bool parse_decimal(std::string_view s, uint64_t & out) {
    if (s.empty() || s.size() > 18) return false;  // 10^18 bytes is past any limit and cannot overflow
    out = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        out = out * 10 + static_cast<uint64_t>(c - '0');
    }
    return true;
}

// The request line: METHOD SP TARGET SP HTTP/1.x
RequestFrame parse_request_line(std::string_view line, const FrameLimits & limits, HttpRequest & r) {
    const size_t sp1 = line.find(' ');
    const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
        return error(400, "malformed request line");
    const std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
                           version = line.substr(sp2 + 1);
    if (method.empty() || !std::all_of(method.begin(), method.end(), is_token_char))
        return error(400, "malformed request method");
    if (version.size() != 8 || !version.starts_with("HTTP/1.") || version[7] < '0' || version[7] > '9')
        return error(version.starts_with("HTTP/") ? 505 : 400, "only HTTP/1.0 and HTTP/1.1 are served");
    if (target.size() > limits.max_target_bytes)
        return error(414, "request target longer than " + std::to_string(limits.max_target_bytes) + " bytes");
    if (target.empty()) return error(400, "empty request target");
    std::string_view path = target;
    // The absolute form (a proxy's "http://host/path") names the same resource as its path.
    if (const size_t scheme = path.find("://"); scheme != std::string_view::npos && path.front() != '/') {
        const size_t slash = path.find('/', scheme + 3);
        path = slash == std::string_view::npos ? std::string_view("/") : path.substr(slash);
    }
    if (path != "*" && path.front() != '/') return error(400, "the request target must start with '/'");
    if (const size_t q = path.find_first_of("?#"); q != std::string_view::npos) path = path.substr(0, q);
    for (char c : target)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
            return error(400, "control character in the request target");
    r.method = std::string(method);
    r.target = std::string(target);
    r.minor_version = version[7] - '0';
    if (!percent_decode(path, r.path)) return error(400, "broken %-escape in the request path");
    return {};
}

}  // namespace

const std::string * HttpRequest::header(std::string_view lower_case_name) const {
    for (const auto & [name, value] : headers)
        if (name == lower_case_name) return &value;
    return nullptr;
}

bool HttpRequest::keep_alive() const {
    bool close = false, keep = false;
    for (const auto & [name, value] : headers) {
        if (name != "connection") continue;
        std::string v(value);
        std::transform(v.begin(), v.end(), v.begin(), lower);
        if (v.find("close") != std::string::npos) close = true;
        if (v.find("keep-alive") != std::string::npos) keep = true;
    }
    return !close && (minor_version >= 1 || keep);
}

size_t find_header_end(std::string_view buffer, size_t from) {
    for (size_t i = buffer.find('\n', from); i != std::string_view::npos; i = buffer.find('\n', i + 1)) {
        if (i + 1 < buffer.size() && buffer[i + 1] == '\n') return i + 2;
        if (i + 2 < buffer.size() && buffer[i + 1] == '\r' && buffer[i + 2] == '\n') return i + 3;
    }
    return std::string_view::npos;
}

RequestFrame frame_request(std::string_view buffer, const FrameLimits & limits) {
    // Blank lines before a request are ignored (RFC 9112 §2.2): some clients send one after a POST body.
    size_t start = 0;
    while (start < buffer.size() && (buffer[start] == '\r' || buffer[start] == '\n')) ++start;
    if (start > 4) return error(400, "blank lines where a request was expected");
    const size_t header_end = find_header_end(buffer, start);
    if (header_end == std::string_view::npos) {
        if (buffer.size() - start > limits.max_header_bytes)
            return error(431,
                         "request headers longer than " + std::to_string(limits.max_header_bytes) + " bytes");
        // A request line that cannot become valid is refused now, not when the headers end.
        if (const size_t eol = buffer.find('\n', start); eol != std::string_view::npos) {
            std::string_view line = buffer.substr(start, eol - start);
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            HttpRequest scratch;
            if (RequestFrame bad = parse_request_line(line, limits, scratch);
                bad.state == RequestFrame::State::error)
                return bad;
        }
        return {};
    }
    if (header_end - start > limits.max_header_bytes)
        return error(431,
                     "request headers longer than " + std::to_string(limits.max_header_bytes) + " bytes");

    RequestFrame f;
    HttpRequest & r = f.request;
    std::string_view head = buffer.substr(start, header_end - start);
    bool first = true;
    bool chunked = false, has_length = false;
    uint64_t length = 0;
    while (!head.empty()) {
        const size_t eol = head.find('\n');
        std::string_view line = head.substr(0, eol);
        head.remove_prefix(eol == std::string_view::npos ? head.size() : eol + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.find('\0') != std::string_view::npos || line.find('\r') != std::string_view::npos)
            return error(400, "stray control character in the request headers");
        if (first) {
            first = false;
            if (RequestFrame bad = parse_request_line(line, limits, r);
                bad.state == RequestFrame::State::error)
                return bad;
            continue;
        }
        if (line.empty()) break;
        if (line.front() == ' ' || line.front() == '\t')
            return error(400, "folded header lines are not accepted (RFC 9112 §5.2)");
        const size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) return error(400, "malformed header line");
        const std::string_view raw_name = line.substr(0, colon);
        if (!std::all_of(raw_name.begin(), raw_name.end(), is_token_char))
            return error(400, "malformed header name");
        if (r.headers.size() >= limits.max_headers)
            return error(431, "more than " + std::to_string(limits.max_headers) + " request headers");
        std::string name(raw_name);
        std::transform(name.begin(), name.end(), name.begin(), lower);
        const std::string_view value = trim(line.substr(colon + 1));
        if (name == "content-length") {
            // "5, 5" (a list of equal values) is one length; anything else that differs is two requests'
            // worth
            std::string_view rest = value;
            while (true) {
                const size_t comma = rest.find(',');
                uint64_t v = 0;
                if (!parse_decimal(trim(rest.substr(0, comma)), v))
                    return error(400, "invalid Content-Length: '" + std::string(value.substr(0, 40)) + "'");
                if (has_length && v != length) return error(400, "conflicting Content-Length headers");
                has_length = true;
                length = v;
                if (comma == std::string_view::npos) break;
                rest.remove_prefix(comma + 1);
            }
        } else if (name == "transfer-encoding") {
            std::string v(value);
            std::transform(v.begin(), v.end(), v.begin(), lower);
            if (v != "chunked" || chunked)
                return error(501, "unsupported Transfer-Encoding '" + std::string(value.substr(0, 40)) +
                                      "' (only chunked is)");
            chunked = true;
        } else if (name == "expect") {
            std::string v(value);
            std::transform(v.begin(), v.end(), v.begin(), lower);
            if (v != "100-continue")
                return error(417, "unsupported Expect: '" + std::string(value.substr(0, 40)) + "'");
            f.expect_continue = true;
        }
        r.headers.emplace_back(std::move(name), std::string(value));
    }
    if (chunked && has_length) return error(400, "both Content-Length and Transfer-Encoding");
    if (has_length && length > limits.max_body_bytes)
        return error(413, "request body of " + std::to_string(length) + " bytes is over the limit of " +
                              std::to_string(limits.max_body_bytes));
    const bool carries_body = r.method == "POST" || r.method == "PUT" || r.method == "PATCH";
    if (carries_body && !has_length && !chunked)
        return error(411, "a " + r.method + " request needs a Content-Length (or chunked transfer)");

    f.headers_complete = true;
    if (!chunked) {
        const size_t total = header_end + static_cast<size_t>(length);
        if (buffer.size() < total) {
            f.bytes_needed = total;
            return f;
        }
        r.body = std::string(buffer.substr(header_end, static_cast<size_t>(length)));
        f.state = RequestFrame::State::complete;
        f.consumed = total;
        f.expect_continue = false;
        return f;
    }
    // Chunked: size in hex [; extensions] CRLF, data CRLF, ..., 0 CRLF, trailers, CRLF.
    size_t pos = header_end;
    std::string body;
    while (true) {
        const size_t eol = buffer.find('\n', pos);
        if (eol == std::string_view::npos) {
            if (buffer.size() - pos > 1024) return error(400, "malformed chunk size line");
            return f;
        }
        std::string_view size_line = buffer.substr(pos, eol - pos);
        if (!size_line.empty() && size_line.back() == '\r') size_line.remove_suffix(1);
        size_line = trim(size_line.substr(0, size_line.find(';')));
        if (size_line.empty() || size_line.size() > 15) return error(400, "malformed chunk size");
        uint64_t size = 0;
        for (char c : size_line) {
            const int h = hex_value(c);
            if (h < 0) return error(400, "malformed chunk size");
            size = size * 16 + static_cast<uint64_t>(h);
        }
        if (body.size() + size > limits.max_body_bytes)
            return error(413, "chunked request body over the limit of " +
                                  std::to_string(limits.max_body_bytes) + " bytes");
        pos = eol + 1;
        if (size == 0) {
            // Trailers (ignored) up to the blank line.
            while (true) {
                const size_t end = buffer.find('\n', pos);
                if (end == std::string_view::npos) {
                    if (buffer.size() - pos > limits.max_header_bytes)
                        return error(431, "chunked trailers too long");
                    return f;
                }
                const bool blank = end == pos || (end == pos + 1 && buffer[pos] == '\r');
                pos = end + 1;
                if (blank) break;
            }
            break;
        }
        if (buffer.size() < pos + size + 1) return f;
        body.append(buffer.substr(pos, static_cast<size_t>(size)));
        pos += static_cast<size_t>(size);
        if (buffer[pos] == '\r') {
            if (buffer.size() < pos + 2) return f;
            ++pos;
        }
        if (buffer[pos] != '\n') return error(400, "chunk data longer than its size");
        ++pos;
    }
    r.body = std::move(body);
    f.state = RequestFrame::State::complete;
    f.consumed = pos;
    f.expect_continue = false;
    return f;
}

std::string_view http_reason(int status) {
    switch (status) {
        case 100:
            return "Continue";
        case 200:
            return "OK";
        case 400:
            return "Bad Request";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 411:
            return "Length Required";
        case 413:
            return "Payload Too Large";
        case 414:
            return "URI Too Long";
        case 417:
            return "Expectation Failed";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 503:
            return "Service Unavailable";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return "Unknown";
    }
}

}  // namespace dl
