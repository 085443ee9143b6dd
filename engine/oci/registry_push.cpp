// `dlctl push`: an image read from disk (local_image.cpp) pushed to a registry (push_image in
// registry_client.h).
#include <curl/curl.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "oci/registry_auth.h"
#include "oci/registry_client.h"
#include "oci/registry_session.h"

namespace dl::oci {

using namespace registry;

namespace {

class Pusher {
public:
    Pusher(const LocalImage & image, const RegistryReference & ref, const PushOptions & o)
        : image_(image), ref_(ref), o_(o), session_(ref, o, push_scope(ref, o)) {}

    static std::string push_scope(const RegistryReference & ref, const PushOptions & o) {
        std::string scope = fmt::format("repository:{}:pull,push", ref.repository);
        if (!o.mount_from.empty())
            scope = merge_scopes(scope, fmt::format("repository:{}:pull", o.mount_from));
        return scope;
    }

    PushResult run() {
        if (!ref_.digest.empty() && ref_.digest != image_.manifest_digest)
            throw Error(ExitCode::bad_input,
                        fmt::format("the reference names digest {}, but the image's manifest is {}",
                                    ref_.digest, image_.manifest_digest));
        session_.ping();

        PushResult result{.reference = ref_.str()};
        std::set<std::string> seen;
        for (const LocalBlob & blob : image_.blobs) {
            if (!seen.insert(blob.digest).second) continue;
            if (blob_exists(blob)) {
                result.skipped.push_back(blob.digest);
                progress(blob, blob.size);
                continue;
            }
            std::string location;
            if (!o_.mount_from.empty()) {
                location = mount(blob);
                if (location.empty()) {
                    result.mounted.push_back(blob.digest);
                    progress(blob, blob.size);
                    continue;
                }
            }
            upload(blob, location);
            result.pushed.push_back(blob.digest);
        }
        result.digest = put_manifest();
        return result;
    }

private:
    void progress(const LocalBlob & blob, int64_t done) {
        if (o_.progress) o_.progress(blob.digest, done, blob.size);
    }

    // Note [confirmed pushes]: a blob counts as present only when the registry's HEAD names it: a 200 with
    // our digest in Docker-Content-Digest and our size in Content-Length (a 3xx to its storage with our
    // digest). Anything else is uploaded, and an upload counts only when answered 201 with our digest where
    // the registry gives one; the manifest counts only when the registry confirms its digest (below).
    bool blob_exists(const LocalBlob & blob) {
        Request r{.method = "HEAD", .url = session_.repo_url("/blobs/" + blob.digest)};
        const Response res = session_.send(r);
        if (res.status == 404) return false;
        const std::string digest = res.header("docker-content-digest");
        if (res.status == 200) {
            char * end = nullptr;
            const std::string length = res.header("content-length");
            const long long size = std::strtoll(length.c_str(), &end, 10);
            if (digest == blob.digest && !length.empty() && *end == '\0' && size == blob.size) return true;
        } else if (res.status >= 300 && res.status < 400 && digest == blob.digest) {
            return true;  // a registry redirecting to its storage backend
        }
        if (res.status == 200 || (res.status >= 300 && res.status < 400)) {
            session_.log(
                fmt::format("{}: HEAD answered {} without its digest and size ({} bytes): uploading it",
                            blob.digest, res.status, blob.size));
            return false;
        }
        session_.fail_unexpected(res, r, "checking blob " + blob.digest);
    }

    // Empty when the blob was mounted; else the upload the registry opened instead (202), to upload into.
    std::string mount(const LocalBlob & blob) {
        Request r{
            .method = "POST",
            .url = session_.repo_url("/blobs/uploads/?mount=" + blob.digest + "&from=" + o_.mount_from)};
        const Response res = session_.send(r);
        if (res.status == 201) {
            const std::string stored = res.header("docker-content-digest");
            if (!stored.empty() && stored != blob.digest)
                session_.fail_misbehaving(fmt::format("it mounted blob {} as {:.80}", blob.digest, stored));
            return "";
        }
        if (res.status == 202 && !res.header("location").empty()) {
            session_.log(fmt::format("{} is not in {}: uploading it", blob.digest, o_.mount_from));
            return session_.resolve(res.header("location"));
        }
        session_.fail_unexpected(res, r, "mounting blob " + blob.digest + " from " + o_.mount_from);
    }

    std::string start_upload(const LocalBlob & blob) {
        Request r{.method = "POST", .url = session_.repo_url("/blobs/uploads/")};
        const Response res = session_.send(r);
        if (res.status != 202 || res.header("location").empty())
            session_.fail_unexpected(res, r, "starting the upload of " + blob.digest);
        return session_.resolve(res.header("location"));
    }

    static std::string with_query(const std::string & url, const std::string & query) {
        return url + (url.find('?') == std::string::npos ? "?" : "&") + query;
    }

    // Note [upload retries]: a failed monolithic upload starts over with a new session; a failed chunk asks
    // the registry how much it has (GET on the upload URL answers `Range: 0-LAST`) and resumes from there. An
    // upload the registry no longer knows (404: restarted, or purged as stale) starts over from byte 0.
    // `location`: an upload already opened (by a mount the registry declined), else empty.
    void upload(const LocalBlob & blob, std::string location) {
        const bool chunked = blob.size > o_.chunk_size;
        int failures = 0;
        session_.on_upload = [&](int64_t sent) { progress(blob, progress_base_ + sent); };
        struct ClearProgress {
            RegistrySession & s;
            ~ClearProgress() { s.on_upload = nullptr; }
        } clear{session_};

        if (location.empty()) location = start_upload(blob);
        if (chunked) location = send_chunks(blob, location, 0, failures);
        progress_base_ = 0;
        Request put{.method = "PUT",
                    .url = with_query(location, "digest=" + blob.digest),
                    .headers = {"Content-Type: application/octet-stream"},
                    .finishes_blob = true};
        if (!chunked) put.body = {.path = &blob.path, .offset = 0, .length = blob.size};
        for (;;) {
            const Response res = session_.send_once(put);
            if (res.status == 201) {
                const std::string stored = res.header("docker-content-digest");
                if (!stored.empty() && stored != blob.digest)
                    session_.fail_misbehaving(
                        fmt::format("it stored the blob {} as {}", blob.digest, stored.substr(0, 80)));
                return;
            }
            if (!res.transient() && res.status != 404)
                session_.fail_unexpected(res, put, "finishing the upload of " + blob.digest);
            if (!session_.backoff(failures++, res, put)) session_.fail_unavailable(res, put);
            if (res.status == 404) {
                session_.warn(
                    fmt::format("the registry lost the upload of {}: starting it over", blob.digest));
                location = start_upload(blob);
                if (chunked) location = send_chunks(blob, location, 0, failures);
            } else if (!chunked) {
                // The registry may hold part of the body; a fresh upload is simpler than reconciling it.
                location = start_upload(blob);
            } else {
                auto [newest, offset] = upload_status(blob, location);
                location = offset < blob.size ? send_chunks(blob, newest, offset, failures) : newest;
            }
            put.url = with_query(location, "digest=" + blob.digest);
        }
    }

    // PATCHes the blob from `offset` to its end in chunks, resuming after failures; returns the newest
    // Location.
    std::string send_chunks(const LocalBlob & blob, std::string location, int64_t offset, int & failures) {
        while (offset < blob.size) {
            const int64_t length = std::min(o_.chunk_size, blob.size - offset);
            progress_base_ = offset;
            Request r{.method = "PATCH",
                      .url = location,
                      .headers = {"Content-Type: application/octet-stream",
                                  fmt::format("Content-Range: {}-{}", offset, offset + length - 1)},
                      .body = {.path = &blob.path, .offset = offset, .length = length}};
            const Response res = session_.send_once(r);
            if (res.status == 202) {
                if (!res.header("location").empty()) location = session_.resolve(res.header("location"));
                offset += length;
                continue;
            }
            // 416: the registry holds a different amount than we thought (a chunk landed but its answer was
            // lost). 404: it lost the upload.
            if (!res.transient() && res.status != 416 && res.status != 404)
                session_.fail_unexpected(res, r, "uploading " + blob.digest);
            if (!session_.backoff(failures++, res, r)) session_.fail_unavailable(res, r);
            if (res.status == 404) {
                session_.warn(
                    fmt::format("the registry lost the upload of {}: starting it over", blob.digest));
                location = start_upload(blob);
                offset = 0;
                continue;
            }
            std::tie(location, offset) = upload_status(blob, location);
        }
        return location;
    }

    // Where an interrupted upload stands: its newest Location and the next offset the registry expects.
    std::pair<std::string, int64_t> upload_status(const LocalBlob & blob, const std::string & location) {
        Request r{.method = "GET", .url = location};
        const Response res = session_.send(r);
        if (res.status == 404) {
            session_.warn(fmt::format("the registry lost the upload of {}: starting it over", blob.digest));
            return {start_upload(blob), 0};
        }
        if (res.status != 204)
            session_.fail_unexpected(res, r, "asking how much of " + blob.digest + " arrived");
        int64_t next = 0;
        const std::string range = res.header("range");
        if (auto dash = range.find('-'); dash != std::string::npos) {
            char * end = nullptr;
            const long long last = std::strtoll(range.c_str() + dash + 1, &end, 10);
            if (end == range.c_str() + dash + 1 || *end != '\0' || last < 0 || last >= blob.size)
                session_.fail_misbehaving(fmt::format("the upload of {} answered Range '{:.80}' for {} bytes",
                                                      blob.digest, range, blob.size));
            next = last + 1;
        }
        // distribution answers "0-0" both for nothing and for one byte; with nothing written yet it is
        // nothing.
        if (range == "0-0" || range == "bytes=0-0") next = 0;
        session_.warn(fmt::format("resuming {} at byte {} of {}", blob.digest, next, blob.size));
        const std::string newest =
            res.header("location").empty() ? location : session_.resolve(res.header("location"));
        return {newest, next};
    }

    std::string put_manifest() {
        const std::string target = ref_.tag.empty() ? ref_.digest : ref_.tag;
        Request r{
            .method = "PUT",
            .url = session_.repo_url("/manifests/" + target),
            .headers = {"Content-Type: " + image_.manifest_media_type},
            .body = {.bytes = &image_.manifest, .length = static_cast<int64_t>(image_.manifest.size())}};
        const Response res = session_.send(r);
        if (res.status != 201 && res.status != 200) session_.fail_unexpected(res, r, "putting the manifest");
        const std::string reported = res.header("docker-content-digest");
        if (!reported.empty() && reported != image_.manifest_digest)
            session_.fail_misbehaving(
                fmt::format("it stored the manifest as {:.80}, but its bytes hash to {}", reported,
                            image_.manifest_digest));
        // Per Note [confirmed pushes], the spec's answer is 201 with the digest. Anything short of that is
        // believed only when a HEAD of the manifest names our digest.
        if (res.status == 201 && reported == image_.manifest_digest) return image_.manifest_digest;
        Request head{.method = "HEAD",
                     .url = session_.repo_url("/manifests/" + target),
                     .headers = {"Accept: " + image_.manifest_media_type}};
        const Response check = session_.send(head);
        const std::string stored = check.header("docker-content-digest");
        if (check.status != 200 || stored != image_.manifest_digest)
            session_.fail_misbehaving(
                fmt::format("the manifest PUT was answered HTTP {} {}, and a HEAD of it HTTP {} with digest "
                            "'{:.80}', not "
                            "{}: nothing confirms that the image was stored",
                            res.status, reported.empty() ? "without a digest" : "with digest " + reported,
                            check.status, stored, image_.manifest_digest));
        return image_.manifest_digest;
    }

    const LocalImage & image_;
    const RegistryReference & ref_;
    const PushOptions & o_;
    RegistrySession session_;
    int64_t progress_base_ = 0;  // bytes of the current blob sent before the current request
};

}  // namespace

PushResult push_image(const LocalImage & image, const RegistryReference & ref, const PushOptions & options) {
    static const bool curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    DL_ASSERT(curl_ready);
    return Pusher(image, ref, options).run();
}

}  // namespace dl::oci
