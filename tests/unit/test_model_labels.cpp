// Labels and history (io/model_labels.h): what labels.json may say, the typo check that keeps a renamed label
// from moving traffic, rollback's walk back through the history, and the history file's torn-line rule.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/fs.h"
#include "io/model_labels.h"

namespace {

namespace fs = std::filesystem;

dl::ExitCode refusal_of(std::string_view text, const dl::LabelSet * previous = nullptr) {
    try {
        dl::parse_labels(text, "labels.json", previous);
    } catch (const dl::Error & e) {
        CHECK(std::string(e.what()).starts_with("labels.json: "));
        return e.code();
    }
    return dl::ExitCode::ok;
}

dl::HistoryEntry entry(const char * action, const char * label, std::optional<int64_t> from,
                       std::optional<int64_t> to) {
    return {.action = action, .label = label, .from = from, .to = to};
}

}  // namespace

TEST_CASE("labels.json: what is taken and what is refused") {
    const dl::LabelSet l = dl::parse_labels(
        R"({"stable": 3, "canary": "4", "canary_percent": 12.5, "shadow": true})", "labels.json");
    CHECK(l.versions == std::map<std::string, int64_t>{{"stable", 3}, {"canary", 4}});
    CHECK(l.canary_percent == 12.5);
    CHECK(l.shadow);
    CHECK(dl::parse_labels(dl::render_labels(l), "again") == l);
    CHECK(dl::parse_labels("{}", "labels.json") == dl::LabelSet{});

    for (const char * bad :
         {R"([1])", R"({"stable": 0})", R"({"stable": -1})", R"({"stable": 1.5})", R"({"stable": "x"})",
          R"({"stable": null})", R"({"latest": 1})", R"({"42": 1})", R"({"a/b": 1})",
          R"({"canary_percent": 101})", R"({"canary_percent": -1})", R"({"canary_percent": "10"})",
          R"({"shadow": 1})", R"({"canary_precent": 10})", R"({"stable": 1,)", R"({"stable": {"v": 1}})",
          R"({"stable": 99999999999999999999})"})
        CHECK_MESSAGE(refusal_of(bad) == dl::ExitCode::bad_input, bad);
}

TEST_CASE("labels.json: a label renamed by a typo is refused, other new labels are not") {
    const dl::LabelSet before{.versions = {{"stable", 1}, {"canary", 2}}}, none_before;
    CHECK(refusal_of(R"({"stabel": 1, "canary": 2})", &before) == dl::ExitCode::bad_input);
    CHECK(refusal_of(R"({"stable": 1, "canery": 2})", &before) == dl::ExitCode::bad_input);
    // Both spellings present: nothing is lost, so nothing is refused.
    CHECK(refusal_of(R"({"stable": 1, "stabel": 2, "canary": 2})", &before) == dl::ExitCode::ok);
    CHECK(refusal_of(R"({"stable": 2, "champion": 2})", &before) == dl::ExitCode::ok);
    CHECK(refusal_of(R"({"stable": 2, "canary2": 2, "stable-eu": 1})", &none_before) == dl::ExitCode::ok);
    // Without earlier labels, only stable / canary count as known names.
    CHECK(refusal_of(R"({"stabel": 1})", nullptr) == dl::ExitCode::ok);
    const dl::LabelSet none;
    CHECK(refusal_of(R"({"stabel": 1})", &none) == dl::ExitCode::bad_input);

    CHECK(dl::label_typo_of("stabel", before) == "stable");
    CHECK(dl::label_typo_of("stable", before) == "");
    CHECK(dl::label_typo_of("champion", before) == "");
    CHECK(dl::label_typo_of("stble", before) == "stable");
    CHECK(dl::label_typo_of("canary2", before) == "");
}

TEST_CASE("rollback walks back through the history, undoing earlier rollbacks") {
    std::vector<dl::HistoryEntry> h = {entry("label", "stable", std::nullopt, 1),
                                       entry("label", "canary", std::nullopt, 3),
                                       entry("promote", "stable", 1, 2), entry("label", "stable", 2, 3)};
    CHECK(dl::previous_version(h, "stable") == 2);
    CHECK(!dl::previous_version(h, "canary").has_value());
    h.push_back(entry("rollback", "stable", 3, 2));
    CHECK(dl::previous_version(h, "stable") == 1);  // not 3: rolling back twice goes two back
    h.push_back(entry("rollback", "stable", 2, 1));
    CHECK(!dl::previous_version(h, "stable").has_value());
    // A history that starts mid-way (an entry with a `from` and no earlier one) still knows that `from`.
    CHECK(dl::previous_version({entry("label", "stable", 4, 5)}, "stable") == 4);
}

TEST_CASE("change_labels appends to history.jsonl and replaces labels.json; a torn last line is cut off") {
    const fs::path dir = fs::temp_directory_path() / fmt::format("dlctl-labels-{}", getpid());
    fs::remove_all(dir);
    fs::create_directories(dir / "1");
    fs::create_directories(dir / "2");
    dl::write_file_atomic((dir / "1" / "dlctl.h5").string(), "one");
    dl::write_file_atomic((dir / "2" / "dlctl.h5").string(), "two");
    const std::string d = dir.string();
    dl::change_labels(d, [](dl::LabelSet & l, std::vector<dl::HistoryEntry> & log) {
        log.push_back(entry("label", "stable", std::nullopt, 1));
        l.versions["stable"] = 1;
    });
    // Nothing to record: nothing written.
    dl::change_labels(d, [](dl::LabelSet &, std::vector<dl::HistoryEntry> &) {});
    {
        std::ofstream torn(dir / "history.jsonl", std::ios::app);
        torn << R"({"time": "2026-)";  // a crash while appending
    }
    CHECK(dl::read_history(d).size() == 1);  // skipped when read
    const dl::LabelSet after =
        dl::change_labels(d, [](dl::LabelSet & l, std::vector<dl::HistoryEntry> & log) {
            log.push_back(entry("promote", "stable", l.version_of("stable"), 2));
            l.versions["stable"] = 2;
        });
    CHECK(after.version_of("stable") == 2);
    CHECK(dl::read_labels_file(d) == after);
    const std::vector<dl::HistoryEntry> h = dl::read_history(d);
    REQUIRE(h.size() == 2);
    CHECK(h[1].from == 1);
    CHECK(h[1].to == 2);
    CHECK(h[1].digests.size() == 2);
    CHECK(h[1].digests.at(2).starts_with("sha256:"));
    CHECK(!h[1].user.empty());
    // A line that is no entry, in the middle, is named.
    {
        std::ofstream bad(dir / "history.jsonl", std::ios::app);
        bad << "not json\n{\"time\": \"t\", \"action\": \"label\"}\n";
    }
    try {
        dl::read_history(d);
        FAIL("a corrupt history was read");
    } catch (const dl::Error & e) {
        CHECK(e.code() == dl::ExitCode::bad_input);
        CHECK(std::string(e.what()).find("history.jsonl:3") != std::string::npos);
    }
    fs::remove_all(dir);
}
