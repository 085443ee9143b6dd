// Errors a request causes, answered in TF Serving's shape: {"error": "..."} with an HTTP status. Internal to
// serve/ (model_server.cpp and the files it is split into).
//   reject(404, "{} has no version {}", name, v);   // throws HttpError, answered by ModelServer::Impl::handle
//   res.body = error_body("bad request");           // {"error": "bad request"}
#pragma once

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>

namespace dl::serve {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

struct HttpError : std::runtime_error {
    int status;
    std::string allow;  // for 405: the methods the resource takes
    HttpError(int status, const std::string & message, std::string allow = {})
        : std::runtime_error(message), status(status), allow(std::move(allow)) {}
};

template <typename... Args>
[[noreturn]] void reject(int status, fmt::format_string<Args...> format, Args &&... args) {
    throw HttpError(status, fmt::format(format, std::forward<Args>(args)...));
}

// Client-supplied text (keys, paths) may be invalid UTF-8: replaced, never a throw from dump().
template <typename J>
std::string dump(const J & j, int indent = -1) {
    return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

inline std::string error_body(const std::string & message) { return dump(json{{"error", message}}); }

}  // namespace dl::serve
