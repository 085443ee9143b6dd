#include "model/classification_report.h"

#include "core/error.h"

namespace dl {

namespace {

double ratio(double numerator, double denominator) {
    return denominator == 0 ? 0.0 : numerator / denominator;
}

}  // namespace

ClassificationReport classification_report(const std::vector<std::string> & classes,
                                           const std::vector<int32_t> & truth,
                                           const std::vector<int32_t> & predicted) {
    DL_CHECK(truth.size() == predicted.size(), ExitCode::internal, "{} labels but {} predictions",
             truth.size(), predicted.size());
    const size_t k = classes.size();
    ClassificationReport r;
    r.classes = classes;
    r.confusion.assign(k, std::vector<int64_t>(k, 0));
    for (size_t i = 0; i < truth.size(); ++i) {
        DL_CHECK(truth[i] >= 0 && static_cast<size_t>(truth[i]) < k && predicted[i] >= 0 &&
                     static_cast<size_t>(predicted[i]) < k,
                 ExitCode::internal, "row {}: class {} or {} outside the model's {} classes", i, truth[i],
                 predicted[i], k);
        ++r.confusion[static_cast<size_t>(truth[i])][static_cast<size_t>(predicted[i])];
    }
    size_t averaged = 0;
    for (size_t c = 0; c < k; ++c) {
        int64_t true_positives = r.confusion[c][c], actual = 0, called = 0;
        for (size_t j = 0; j < k; ++j) {
            actual += r.confusion[c][j];
            called += r.confusion[j][c];
        }
        ClassScores s;
        s.support = actual;
        s.precision = ratio(static_cast<double>(true_positives), static_cast<double>(called));
        s.recall = ratio(static_cast<double>(true_positives), static_cast<double>(actual));
        // 2tp / (2tp + fp + fn), as scikit-learn computes it: equal to 2pr/(p+r) and 0 when tp is 0.
        s.f1 = ratio(2.0 * static_cast<double>(true_positives), static_cast<double>(actual + called));
        r.per_class.push_back(s);
        // scikit-learn's macro average (labels=None) covers the classes seen in either the truth or the
        // predictions; a class absent from both would otherwise drag the mean down with a 0.
        if (actual + called == 0) continue;
        ++averaged;
        r.macro.precision += s.precision;
        r.macro.recall += s.recall;
        r.macro.f1 += s.f1;
    }
    r.macro.precision = ratio(r.macro.precision, static_cast<double>(averaged));
    r.macro.recall = ratio(r.macro.recall, static_cast<double>(averaged));
    r.macro.f1 = ratio(r.macro.f1, static_cast<double>(averaged));
    r.macro.support = static_cast<int64_t>(truth.size());
    return r;
}

std::map<std::string, double> ClassificationReport::gate_metrics() const {
    std::map<std::string, double> m{
        {"macro_precision", macro.precision}, {"macro_recall", macro.recall}, {"macro_f1", macro.f1}};
    for (size_t c = 0; c < classes.size(); ++c) {
        m["precision." + classes[c]] = per_class[c].precision;
        m["recall." + classes[c]] = per_class[c].recall;
        m["f1." + classes[c]] = per_class[c].f1;
    }
    return m;
}

}  // namespace dl
