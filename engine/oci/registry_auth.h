// Credentials for a registry and where they may go: --username or docker's config.json, token scopes, the
// origin that scopes them (Note [credentials stay home] in registry_session.cpp). The session's own part, a
// 401's challenge answered with Basic credentials or a Bearer token fetched from the realm, is
// RegistrySession::send_once and fetch_token in registry_auth.cpp. Internal to oci/.
//   auto [user, password] = docker_config_credentials("registry.example.com:5000");  // {} when none
//   merge_scopes("repository:a:pull", "repository:a:push repository:b:pull")
//       == "repository:a:pull,push repository:b:pull"
//   origin_of("https://R.example.com/v2/x") == "https://r.example.com:443"
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace dl::oci::registry {

std::string base64(std::string_view in);

// "scheme://host:port" of a URL, the port made explicit, lower-cased: where credentials may go.
std::string origin_of(const std::string & url);

// "repository:a:pull repository:b:pull,push" merged action by action with another such list.
std::string merge_scopes(const std::string & a, const std::string & b);

std::pair<std::string, std::string> docker_config_credentials(const std::string & registry);

}  // namespace dl::oci::registry
