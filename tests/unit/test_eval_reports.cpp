// The classification report against numbers scikit-learn gives (zero_division=0, macro over the classes seen),
// and the key-by-key spec comparison `dlctl diff` prints.
#include <doctest/doctest.h>

#include "core/error.h"
#include "model/classification_report.h"
#include "spec/spec_diff.h"

TEST_CASE("classification report: scikit-learn's numbers, a class never predicted and one never seen") {
    // precision_recall_fscore_support([0,0,1,1,2], [0,1,1,1,1], labels=[0,1,2,3], zero_division=0)
    const dl::ClassificationReport r =
        dl::classification_report({"a", "b", "c", "d"}, {0, 0, 1, 1, 2}, {0, 1, 1, 1, 1});
    const int64_t confusion[4][4] = {{1, 1, 0, 0}, {0, 2, 0, 0}, {0, 1, 0, 0}, {0, 0, 0, 0}};
    REQUIRE(r.confusion.size() == 4);
    for (size_t t = 0; t < 4; ++t) {
        CAPTURE(t);
        REQUIRE(r.confusion[t].size() == 4);
        for (size_t p = 0; p < 4; ++p) CHECK(r.confusion[t][p] == confusion[t][p]);
    }
    const double precision[] = {1.0, 0.5, 0.0, 0.0}, recall[] = {0.5, 1.0, 0.0, 0.0};
    const double f1[] = {2.0 / 3, 2.0 / 3, 0.0, 0.0};
    const int64_t support[] = {2, 2, 1, 0};
    for (size_t c = 0; c < 4; ++c) {
        CAPTURE(c);
        CHECK(r.per_class[c].precision == doctest::Approx(precision[c]).epsilon(1e-12));
        CHECK(r.per_class[c].recall == doctest::Approx(recall[c]).epsilon(1e-12));
        CHECK(r.per_class[c].f1 == doctest::Approx(f1[c]).epsilon(1e-12));
        CHECK(r.per_class[c].support == support[c]);
    }
    // average="macro" with labels=None: over a, b and c (d occurs nowhere): (0.5, 0.5, 0.4444...)
    CHECK(r.macro.precision == doctest::Approx(0.5).epsilon(1e-12));
    CHECK(r.macro.recall == doctest::Approx(0.5).epsilon(1e-12));
    CHECK(r.macro.f1 == doctest::Approx(4.0 / 9).epsilon(1e-12));
    CHECK(r.macro.support == 5);
    const auto gates = r.gate_metrics();
    CHECK(gates.at("macro_f1") == r.macro.f1);
    CHECK(gates.at("precision.b") == 0.5);
    CHECK(gates.at("f1.d") == 0.0);
}

TEST_CASE("classification report: no rows, and a class index outside the model's") {
    const dl::ClassificationReport empty = dl::classification_report({"a", "b"}, {}, {});
    CHECK(empty.macro.f1 == 0.0);
    CHECK(empty.macro.support == 0);
    CHECK_THROWS_AS(dl::classification_report({"a", "b"}, {0, 2}, {0, 1}), dl::Error);
    CHECK_THROWS_AS(dl::classification_report({"a", "b"}, {0}, {0, 1}), dl::Error);
}

TEST_CASE("spec diff: dotted keys, lists of scalars as one value, keys on one side only") {
    const std::string a =
        "name: housing\nmodel:\n  input: [13]\n  layers:\n    - dense: {units: 1}\n"
        "train:\n  optimizer: {type: adam, lr: 0.001}\n  epochs: 20\n";
    const std::string b =
        "name: housing\nmodel:\n  input: [13]\n  layers:\n    - dense: {units: 8}\n"
        "    - dense: {units: 1}\ntrain:\n  optimizer: {type: adam, lr: 0.001}\n  epochs: 40\n";
    const std::vector<dl::SpecChange> d = dl::diff_spec_yaml(a, b, "a.yaml", "b.yaml");
    REQUIRE(d.size() == 3);
    CHECK(d[0].key == "model.layers.0.dense.units");
    CHECK(*d[0].a == "1");
    CHECK(*d[0].b == "8");
    CHECK(d[1].key == "train.epochs");
    CHECK(*d[1].a == "20");
    CHECK(*d[1].b == "40");
    CHECK(d[2].key == "model.layers.1.dense.units");
    CHECK(!d[2].a);
    CHECK(*d[2].b == "1");
    CHECK(dl::diff_spec_yaml(a, a, "a.yaml", "a.yaml").empty());
    const std::vector<dl::SpecChange> input =
        dl::diff_spec_yaml(a, "model: {input: [4]}", "a.yaml", "c.yaml");
    CHECK(input[0].key == "name");
    CHECK(input[1].key == "model.input");
    CHECK(*input[1].a == "[13]");
    CHECK(*input[1].b == "[4]");
    CHECK_THROWS_AS(dl::diff_spec_yaml(a, "model: [unclosed", "a.yaml", "bad.yaml"), dl::Error);
}
