// SHA-256 through OpenSSL, hex-encoded.
//   std::string h = sha256_hex(bytes);
//   Sha256 s; s.update(a); s.update(b); s.hex();
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace dl {

class Sha256 {
public:
    Sha256();
    ~Sha256();
    void update(const void * data, size_t bytes);
    void update(std::string_view s) { update(s.data(), s.size()); }
    std::string hex();

private:
    struct State;
    std::unique_ptr<State> state_;
};

std::string sha256_hex(std::string_view data);

}  // namespace dl
