// csv: a CSV file -> the table `dlctl train`/`validate` read (read_csv), then the seeded splits and the
// normalisation statistics computed over it. The first byte picks the reader's options; the rest is the file.
//   byte 0: bit 0 class labels | bit 1 ';' as delimiter | bits 2-3 none/standard/minmax | bit 4 two targets
//           | bit 5 the first column only as feature
// The target is the header's last column (the last two with bit 4), so the seeds' own headers name it.
#include <nlohmann/json.hpp>

#include "data/dataset.h"
#include "data/text_fields.h"
#include "harness.h"

DLCTL_FUZZ_TARGET(csv) {
    if (input.empty()) return;
    const unsigned flags = static_cast<unsigned char>(input[0]);
    const std::string_view text = input.substr(1);
    dl::DataSpec data;
    data.delimiter = (flags & 2) ? ";" : ",";
    data.normalize = std::array{"none", "standard", "minmax", "standard"}[(flags >> 2) & 3];
    data.test_split = 0.2;
    data.validation_split = 0.25;
    const std::vector<std::string_view> header =
        dl::split_fields(text.substr(0, text.find('\n')), data.delimiter[0]);
    const size_t n_targets = (flags & 16) && header.size() > 1 ? 2 : 1;
    for (size_t i = header.size() >= n_targets ? header.size() - n_targets : 0; i < header.size(); ++i)
        data.targets.emplace_back(dl::trim_field(header[i]));
    if ((flags & 32) && !header.empty()) data.features.emplace_back(dl::trim_field(header[0]));
    data.path = dlctl_fuzz::scratch_file("data.csv", text);
    data.path_as_written = "data.csv";

    dl::Table t = dl::read_dataset(data, /*class_labels=*/(flags & 1) != 0);
    const dl::Splits s = dl::make_splits(t.rows(), data, /*seed=*/42, t.test_start);
    dl::Normalizer::fit(t, s.train, data.normalize).apply(t);
    // What the reader accepts, training saves: the checkpoint keeps the names as JSON (checkpoint_state.cpp's
    // json_array), which must not fail at the end of a run (a Latin-1 header byte did, with exit 70).
    for (const auto * names : {&t.feature_names, &t.target_names, &t.class_names})
        nlohmann::json(*names).dump();
}
