// The engine's layering (engine/CMakeLists.txt), checked over the sources' #include lines:
//   - the libraries point one way: the engine includes none of export/, serve/, oci/; those three include the
//     engine and not each other;
//   - no include cycle between the engine's folders (a folder is a module: graph, ops, model, train...).
// CUDA sources (*.cu, *.cuh) belong to the plugin whatever their folder (engine/ops/<op>.cu beside its op),
// so they count as backend/cuda.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

using Edges = std::map<std::string, std::map<std::string, std::string>>;  // from -> to -> a file that does it

std::string folder_of(const fs::path & file, const fs::path & engine) {
    const std::string ext = file.extension().string();
    if (ext == ".cu" || ext == ".cuh") return "backend/cuda";
    return fs::relative(file.parent_path(), engine).generic_string();
}

Edges include_edges(const fs::path & engine) {
    Edges edges;
    // The folder of an engine header, nested ones included (backend/cuda, model/layers).
    const std::regex include(R"re(^\s*#\s*include\s+"((?:[a-z_]+/)*[a-z_]+)/[^"/]+")re");
    for (const auto & entry : fs::recursive_directory_iterator(engine)) {
        const std::string ext = entry.path().extension().string();
        if (!entry.is_regular_file() || (ext != ".cpp" && ext != ".h" && ext != ".cu" && ext != ".cuh"))
            continue;
        const std::string from = folder_of(entry.path(), engine);
        std::ifstream in(entry.path());
        std::smatch m;
        for (std::string line; std::getline(in, line);)
            if (std::regex_search(line, m, include) && m[1] != from)
                edges[from].emplace(m[1], fs::relative(entry.path(), engine).generic_string());
    }
    return edges;
}

std::string library_of(const std::string & folder) {
    for (const char * library : {"export", "serve", "oci"})
        if (folder == library) return library;
    return "engine";
}

std::set<std::string> reachable(const Edges & edges, const std::string & start) {
    std::set<std::string> reached;
    std::vector<std::string> todo = {start};
    while (!todo.empty()) {
        const std::string at = todo.back();
        todo.pop_back();
        if (auto it = edges.find(at); it != edges.end())
            for (const auto & [to, file] : it->second)
                if (reached.insert(to).second) todo.push_back(to);
    }
    return reached;
}

// The folders on a cycle through `start` (those it reaches that reach it back); empty when there is none.
std::set<std::string> cycle_through(const Edges & edges, const std::string & start) {
    const std::set<std::string> reached = reachable(edges, start);
    if (!reached.count(start)) return {};
    std::set<std::string> members;
    for (const std::string & other : reached)
        if (reachable(edges, other).count(start)) members.insert(other);
    return members;
}

}  // namespace

TEST_CASE("layering: libraries point one way, and no include cycle joins the engine's folders") {
    const fs::path engine = fs::path(DLCTL_SOURCE_DIR) / "engine";
    const Edges edges = include_edges(engine);
    REQUIRE(edges.count("serve"));  // the scan sees the tree
    int checked = 0;
    for (const auto & [from, targets] : edges) {
        for (const auto & [to, file] : targets) {
            ++checked;
            const std::string a = library_of(from), b = library_of(to);
            INFO(file << " (" << from << ") includes " << to << "/");
            CHECK((a == b || b == "engine"));
        }
        const std::set<std::string> cycle = cycle_through(edges, from);
        std::string members, why;
        for (const std::string & m : cycle) members += " " + m;
        for (const auto & [to, file] : targets)
            if (cycle.count(to)) why += " " + file + " includes " + to + "/;";
        INFO("an include cycle joins" << members << ":" << why);
        CHECK(cycle.empty());
    }
    MESSAGE(checked << " include edges between " << edges.size() << " folders");
}
