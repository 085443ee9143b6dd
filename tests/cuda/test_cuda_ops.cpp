// CUDA against the CPU oracle, for every op the plugin has a kernel for (the registry's own test cases), on
// buffers with sentinels around them: a kernel that writes outside its output is caught. Skipped with a
// message where no GPU is found; it always compiles, so CI keeps it honest.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>

#include "backend/backend.h"
#include "core/rng.h"
#include "exec/executor.h"

namespace {

// Without a GPU the whole program is skipped: CTest reports exit code 77 as "Skipped" (SKIP_RETURN_CODE).
std::unique_ptr<dl::Backend> cuda_or_skip() {
    try {
        return dl::make_backend("cuda");
    } catch (const dl::Error & e) {
        std::printf("SKIP: no GPU for the CUDA tests: %s\n", e.what());
        std::exit(77);
    }
}

constexpr int64_t kPad = 64;  // sentinel values on each side of every device buffer
constexpr float kSentinel = -12345.678f;

dl::Tensor random_input(const dl::OpTest & t, int index, const dl::Shape & shape, uint64_t seed) {
    const bool classes =
        std::find(t.class_inputs.begin(), t.class_inputs.end(), index) != t.class_inputs.end();
    dl::Tensor x(shape, classes ? dl::DType::i32 : dl::DType::f32);
    const dl::Rng rng(seed, static_cast<uint64_t>(index));
    for (int64_t i = 0; i < x.numel(); ++i) {
        if (classes)
            x.view().i32()[i] =
                static_cast<int32_t>(rng.bits(static_cast<uint64_t>(i)) % static_cast<uint64_t>(t.classes));
        else
            x.f32()[i] = t.low + (t.high - t.low) * rng.uniform(static_cast<uint64_t>(i));
    }
    return x;
}

// Device memory with kPad sentinels on each side; `view` is the middle.
struct PaddedBuffer {
    dl::Backend & b;
    std::vector<float> host;
    void * base = nullptr;
    dl::TensorView view;
    PaddedBuffer(dl::Backend & backend, const dl::Shape & shape, dl::DType dtype, const void * contents)
        : b(backend) {
        const int64_t words = shape.numel() * (dtype == dl::DType::i64 ? 2 : 1);
        host.assign(static_cast<size_t>(words + 2 * kPad), kSentinel);
        if (contents) std::memcpy(host.data() + kPad, contents, static_cast<size_t>(words) * 4);
        base = b.allocate(host.size() * 4);
        b.upload(base, host.data(), host.size() * 4);
        view = dl::TensorView{static_cast<float *>(base) + kPad, dtype, shape};
    }
    ~PaddedBuffer() { b.deallocate(base); }
    std::vector<float> read() {
        std::vector<float> out(host.size());
        b.download(out.data(), base, out.size() * 4);
        b.synchronize();
        return out;
    }
};

// Relative tolerance by op (against max(1, |cpu|)): GEMMs and convolutions add in another order than the CPU
// (cuBLAS' and cuDNN's algorithms, Winograd among them); everything else is within a few float ulps.
double tolerance(const std::string & op) {
    if (op == "matmul" || op == "fused_dense" || op.starts_with("conv2d")) return 1e-4;
    return 2e-5;
}

// One case of an op's registry test (with `test`'s attributes) on the GPU against the CPU: the largest
// relative difference, or -1 where the GPU has no kernel for it. Sentinels and inputs are checked here.
double gpu_against_cpu(dl::Backend & cuda, const dl::OpDef & def, const dl::OpTest & test, size_t c,
                       dl::ThreadPool & pool) {
    dl::CpuBackend cpu;
    const std::vector<dl::Shape> & shapes = test.cases[c];
    dl::Graph g;
    std::vector<dl::Value> in;
    std::vector<dl::Tensor> values;
    for (size_t i = 0; i < shapes.size(); ++i) {
        values.push_back(random_input(test, static_cast<int>(i), shapes[i], 1234 + c));
        in.push_back(g.input("in" + std::to_string(i), shapes[i], values.back().dtype()));
    }
    const dl::Value y = g.op(def.name, in, test.attrs);
    const dl::Node & node = g.node(y.id);
    if (!cuda.supports(node)) return -1;
    // The CPU's answer.
    dl::Tensor want(node.shape, node.dtype);
    {
        dl::KernelCtx k{.node = node, .output = want.view(), .pool = pool, .seed = 7, .step = 3};
        for (const dl::Tensor & v : values) k.inputs.push_back(v.view());
        std::vector<std::byte> workspace;
        if (def.workspace) {
            dl::ShapeCtx shape_ctx{g, node};
            workspace.resize(def.workspace(shape_ctx, 1));
            k.workspace = workspace.data();
            k.workspace_bytes = workspace.size();
        }
        cpu.run(k);
    }
    // The GPU's, in padded buffers, as one step (seed and step reach random ops through the step values).
    std::vector<std::unique_ptr<PaddedBuffer>> inputs;
    for (const dl::Tensor & v : values)
        inputs.push_back(std::make_unique<PaddedBuffer>(cuda, v.shape(), v.dtype(), v.view().data));
    PaddedBuffer out(cuda, node.shape, node.dtype, nullptr);
    dl::KernelCtx k{.node = node, .output = out.view, .pool = pool, .seed = 7, .step = 3};
    for (auto & b : inputs) k.inputs.push_back(b->view);
    // The next case's context lives at the same address: its recorded step goes, thrown or not.
    const std::unique_ptr<dl::KernelCtx, std::function<void(dl::KernelCtx *)>> forget_step(
        &k, [&](dl::KernelCtx * key) { cuda.forget(key); });
    // Twice: a convolution's first run times cuDNN against im2col and leaves im2col's result; the second runs
    // the one it kept (Note [conv algorithms]), which is what is checked.
    cuda.run_step(&k, {.seed = 7, .step = 3}, [&] { cuda.run(k); });
    cuda.run_step(&k, {.seed = 7, .step = 3}, [&] { cuda.run(k); });
    const std::vector<float> got = out.read();
    for (int64_t i = 0; i < kPad; ++i) {
        CHECK(got[static_cast<size_t>(i)] == kSentinel);
        CHECK(got[got.size() - 1 - static_cast<size_t>(i)] == kSentinel);
    }
    for (auto & b : inputs) {
        const std::vector<float> after = b->read();
        CHECK(std::memcmp(after.data(), b->host.data(), after.size() * 4) == 0);  // inputs untouched
    }
    const float * w = want.f32();
    const float * gv = got.data() + kPad;
    double worst = 0;
    for (int64_t i = 0; i < want.numel(); ++i) {
        if (std::isnan(gv[i]) && std::isnan(w[i])) continue;
        const double err = std::fabs(static_cast<double>(gv[i]) - w[i]) /
                           std::max(1.0, std::fabs(static_cast<double>(w[i])));
        worst = std::max(worst, std::isnan(err) ? INFINITY : err);
    }
    std::printf("%-28s case %zu: largest relative difference %.3g\n", def.name, c, worst);
    return worst;
}

}  // namespace

TEST_CASE("every CUDA kernel matches the CPU kernel on its registry test cases, inside its own buffer") {
    auto cuda = cuda_or_skip();
    dl::ThreadPool pool(1);
    int ops_checked = 0;
    for (const dl::OpDef * def : dl::all_ops()) {
        if (def->test.skip || def->leaf || def->expand || !def->cpu) continue;
        for (size_t c = 0; c < def->test.cases.size(); ++c) {
            INFO(def->name << " case " << c);
            // A kernel that throws (a cuDNN or cuBLAS status, a launch error) fails its own case; the others
            // still run, unless the error was one that poisons the CUDA context.
            try {
                const double worst = gpu_against_cpu(*cuda, *def, def->test, c, pool);
                if (worst < 0) break;
                CHECK(worst <= tolerance(def->name));
                ++ops_checked;
            } catch (const std::exception & e) {
                FAIL_CHECK(def->name << " case " << c << " threw: " << e.what());
            }
        }
    }
    MESSAGE(ops_checked << " op cases checked against the CPU");
    CHECK(ops_checked > 20);
}

// The dense layer's other paths: bias and ReLU (or bias alone) in cuBLASLt's epilogue, in float32 and TF32;
// and train.precision bf16, where the GEMMs read bfloat16 copies of their operands (8 bits of mantissa: a
// relative error of up to 2^-9 per operand, about 1.6e-2 at worst over these 64-term sums; TF32 has 2 more
// bits).
TEST_CASE("dense layers and GEMMs in every precision, the cuBLASLt epilogue included, match the CPU") {
    auto cuda = cuda_or_skip();
    dl::ThreadPool pool(1);
    const dl::OpDef & dense = *dl::find_op("fused_dense");
    const dl::OpDef & matmul = *dl::find_op("matmul");
    for (const char * precision : {"float32", "tf32", "bf16"}) {
        cuda->set_precision(precision);
        const std::string p = precision;
        const double tol = p == "float32" ? 1e-4 : p == "tf32" ? 1e-2 : 5e-2;
        for (const char * activation : {"relu", "none", "tanh"}) {
            dl::OpTest t = dense.test;
            t.cases = {{{64, 64}, {64, 48}, {48}}, {{5, 4}, {4, 3}, {3}}};
            t.attrs = {{"activation", std::string(activation)}};
            for (size_t c = 0; c < t.cases.size(); ++c) {
                INFO(precision << " fused_dense " << activation << " case " << c);
                CHECK(gpu_against_cpu(*cuda, dense, t, c, pool) <= tol);
            }
        }
        dl::OpTest t = matmul.test;
        for (const auto & [ta, tb] : {std::pair{0, 0}, std::pair{1, 0}, std::pair{0, 1}}) {
            t.cases = {{{ta ? 64 : 32, ta ? 32 : 64}, {tb ? 48 : 64, tb ? 64 : 48}}};
            t.attrs = {{"transpose_a", int64_t{ta}}, {"transpose_b", int64_t{tb}}};
            INFO(precision << " matmul ta=" << ta << " tb=" << tb);
            CHECK(gpu_against_cpu(*cuda, matmul, t, 0, pool) <= tol);
        }
    }
    cuda->set_precision("float32");
}
