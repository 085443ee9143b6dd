#include "core/hash.h"

#include <openssl/evp.h>

#include "core/error.h"

namespace dl {

struct Sha256::State {
    EVP_MD_CTX * ctx = nullptr;
};

Sha256::Sha256() : state_(std::make_unique<State>()) {
    state_->ctx = EVP_MD_CTX_new();
    DL_ASSERT(state_->ctx && EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr) == 1);
}

Sha256::~Sha256() { EVP_MD_CTX_free(state_->ctx); }

void Sha256::update(const void * data, size_t bytes) { EVP_DigestUpdate(state_->ctx, data, bytes); }

std::string Sha256::hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(state_->ctx, digest, &len);
    static const char hexdigits[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
        out += hexdigits[digest[i] >> 4];
        out += hexdigits[digest[i] & 15];
    }
    return out;
}

std::string sha256_hex(std::string_view data) {
    Sha256 s;
    s.update(data);
    return s.hex();
}

}  // namespace dl
