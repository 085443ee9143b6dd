// Precision, recall and F1 per class and macro-averaged, and the confusion matrix, from each row's true and
// predicted class, with scikit-learn's conventions (zero_division=0: a ratio whose denominator is 0 is 0).
//   ClassificationReport r = classification_report(model.classes, labels, predicted);
//   r.confusion[t][p]   // rows whose true class is t and predicted class is p
//   r.gate_metrics()    // {"macro_f1", "f1.setosa", ...}: the names `eval --gate` takes
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace dl {

struct ClassScores {
    double precision = 0, recall = 0, f1 = 0;
    int64_t support = 0;  // rows whose true class this is (the macro average's: all rows)
};

struct ClassificationReport {
    std::vector<std::string> classes;             // the model's class names, in label order
    std::vector<std::vector<int64_t>> confusion;  // [true class][predicted class]
    std::vector<ClassScores> per_class;           // one per class, in `classes` order
    ClassScores macro;  // unweighted mean over the classes that occur as a true or a predicted class
    // "macro_precision", "macro_recall", "macro_f1", and "precision.<class>", "recall.<class>", "f1.<class>".
    std::map<std::string, double> gate_metrics() const;
};

// `truth` and `predicted` are class indices below classes.size(), one per row, in the same order.
ClassificationReport classification_report(const std::vector<std::string> & classes,
                                           const std::vector<int32_t> & truth,
                                           const std::vector<int32_t> & predicted);

}  // namespace dl
