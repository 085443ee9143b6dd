#include "exec/executor.h"

#include <algorithm>
#include <cstring>

namespace dl {

Tensor & ParamStore::add(const std::string & name, Shape shape, bool trainable) {
    DL_ASSERT(!has(name));
    order_.push_back(name);
    if (trainable) trainable_.push_back(name);
    return tensors_.emplace(name, Tensor(std::move(shape))).first->second;
}

Tensor & ParamStore::at(const std::string & name) {
    auto it = tensors_.find(name);
    DL_ASSERT(it != tensors_.end());
    return it->second;
}

const Tensor & ParamStore::at(const std::string & name) const {
    auto it = tensors_.find(name);
    DL_ASSERT(it != tensors_.end());
    return it->second;
}

bool ParamStore::trainable(const std::string & name) const {
    return std::find(trainable_.begin(), trainable_.end(), name) != trainable_.end();
}

size_t ParamStore::total_values() const {
    size_t n = 0;
    for (auto & [name, t] : tensors_) n += static_cast<size_t>(t.numel());
    return n;
}

ParamStore::~ParamStore() {
    for (auto & [name, p] : device_data_) device_->deallocate(p);
}

void * ParamStore::device_data(const std::string & name, Backend & backend) {
    Tensor & host = at(name);
    if (backend.host_memory()) return host.view().data;
    DL_ASSERT(device_ == nullptr || device_ == &backend);
    device_ = &backend;
    auto [it, fresh] = device_data_.try_emplace(name, nullptr);
    if (fresh) {
        it->second = backend.allocate(host.view().bytes());
        backend.upload(it->second, host.view().data, host.view().bytes());
    }
    return it->second;
}

void ParamStore::download_from_device() {
    if (!device_) return;
    for (auto & [name, p] : device_data_) device_->download(at(name).view().data, p, at(name).view().bytes());
    device_->synchronize();
}

void ParamStore::upload_to_device() {
    if (!device_) return;
    for (auto & [name, p] : device_data_) device_->upload(p, at(name).view().data, at(name).view().bytes());
    device_->synchronize();
}

namespace {
// Outputs the host reads after a step (loss, predictions, metrics); gradients and updates stay where they
// are.
bool host_reads(const std::string & output) {
    return !output.starts_with("grad/") && !output.starts_with("update/");
}
}  // namespace

void * Executor::own(size_t bytes) {
    owned_.push_back(backend_.allocate(bytes));
    return owned_.back();
}

// Zeroed host staging shaped like `like`, in the backend's page-locked host memory.
TensorView Executor::own_host(const TensorView & like) {
    owned_host_.push_back(backend_.allocate_host(like.bytes()));
    std::memset(owned_host_.back(), 0, like.bytes());
    return TensorView{owned_host_.back(), like.dtype, like.shape};
}

Executor::~Executor() {
    backend_.forget(&kernels_);
    backend_.forget(&alternate_kernels_);
    for (void * p : owned_) backend_.deallocate(p);
    for (void * p : owned_host_) backend_.deallocate_host(p);
}

Executor::Executor(Graph graph, ParamStore & params, ThreadPool & pool, Backend & backend)
    : graph_(std::move(graph)), plan_(plan_memory(graph_)), backend_(backend), host_(backend.host_memory()) {
    // Before any memory is taken: a graph the backend cannot run leaves nothing behind.
    for (int id : plan_.schedule) {
        const Node & n = graph_.node(id);
        if (!backend_.supports(n))
            throw Error(ExitCode::unavailable,
                        format_at(n.loc, fmt::format("the {} backend has no kernel for '{}' yet",
                                                     backend_.name(), n.op)));
    }
    std::byte * base = nullptr;
    if (host_) {
        arena_ = Tensor(Shape{static_cast<int64_t>((plan_.arena_bytes + 3) / 4)}, DType::f32);
        base = static_cast<std::byte *>(arena_.view().data);
    } else {
        base = static_cast<std::byte *>(own(plan_.arena_bytes));
    }
    views_.resize(graph_.nodes().size());
    for (const Node & n : graph_.nodes()) {
        if (n.dead) continue;
        TensorView & v = views_[static_cast<size_t>(n.id)];
        v.shape = n.shape;
        v.dtype = n.dtype;
        if (n.op == "param") {
            DL_ASSERT(params.at(n.name).shape() == n.shape);
            v.data = params.device_data(n.name, backend_);
        } else if (n.op == "input") {
            if (host_) {
                v.data = inputs_.emplace(n.name, Tensor(n.shape, n.dtype)).first->second.view().data;
            } else {
                // Per Note [double buffers], two sets, so that the next batch can go up while a step reads
                // this one.
                v.data = own(v.bytes());
                TensorView other = v;
                other.data = own(v.bytes());
                alternate_.emplace_back(v.data, other.data);
                for (int set = 0; set < 2; ++set) {
                    const TensorView staging = own_host(v);
                    staging_inputs_[set][n.name] = staging;
                    uploads_[set].emplace_back(staging, set == 0 ? v : other);
                }
            }
        } else if (n.op == "const") {
            v.data = n.value->view().data;
            if (!host_) {
                v.data = own(v.bytes());
                backend_.upload(v.data, n.value->view().data, v.bytes());
            }
        } else {
            v.data = base + plan_.offset[static_cast<size_t>(n.id)];
        }
    }
    if (!host_) {
        for (auto & [name, id] : graph_.outputs()) {
            if (!host_reads(name)) continue;
            const TensorView & device = views_[static_cast<size_t>(id)];
            const TensorView staging = own_host(device);
            host_outputs_[name] = staging;
            downloads_.emplace_back(staging, device);
        }
        backend_.synchronize();  // the constants' uploads read host memory the graph owns
    }
    size_t workspace_bytes = 0;
    for (int id : plan_.schedule) {
        const Node & n = graph_.node(id);
        ShapeCtx shapes{graph_, n};
        if (host_ && n.def->workspace)
            workspace_bytes = std::max(workspace_bytes, n.def->workspace(shapes, pool.size()));
    }
    if (workspace_bytes > 0)
        workspace_ = Tensor(Shape{static_cast<int64_t>((workspace_bytes + 3) / 4)}, DType::f32);
    kernels_.reserve(plan_.schedule.size());
    for (int id : plan_.schedule) {
        const Node & n = graph_.node(id);
        KernelCtx k{.node = n, .output = views_[static_cast<size_t>(id)], .pool = pool};
        for (int in : n.inputs) k.inputs.push_back(views_[static_cast<size_t>(in)]);
        if (host_ && n.def->workspace) {
            ShapeCtx shapes{graph_, n};
            k.workspace = static_cast<std::byte *>(workspace_.view().data);
            k.workspace_bytes = n.def->workspace(shapes, pool.size());
        }
        kernels_.push_back(std::move(k));
    }
    if (!host_) {
        // The same kernels reading the second set of input buffers.
        alternate_kernels_.reserve(kernels_.size());
        for (const KernelCtx & k : kernels_) alternate_kernels_.push_back(k);
        for (KernelCtx & k : alternate_kernels_)
            for (TensorView & in : k.inputs)
                for (auto & [first, second] : alternate_)
                    if (in.data == first) in.data = second;
    }
}

TensorView Executor::input(const std::string & name) {
    if (!host_) {
        auto it = staging_inputs_[fill_].find(name);
        DL_ASSERT(it != staging_inputs_[fill_].end());
        return it->second;
    }
    auto it = inputs_.find(name);
    DL_ASSERT(it != inputs_.end());
    return it->second.view();
}

TensorView Executor::output(const std::string & name) const {
    if (!host_) {
        auto it = host_outputs_.find(name);
        DL_ASSERT(it != host_outputs_.end());
        return it->second;
    }
    return device_output(name);
}

TensorView Executor::device_output(const std::string & name) const {
    auto it = graph_.outputs().find(name);
    DL_ASSERT(it != graph_.outputs().end());
    return views_[static_cast<size_t>(it->second)];
}

void Executor::upload_inputs() {
    if (host_) return;
    for (auto & [host, device] : uploads_[fill_]) backend_.upload_ahead(device.data, host.data, host.bytes());
    staged_ = fill_;
    fill_ ^= 1;
}

std::vector<KernelCtx> & Executor::staged_kernels() { return staged_ == 1 ? alternate_kernels_ : kernels_; }

const void * Executor::step_key() { return &staged_kernels(); }

void Executor::launch(uint64_t seed, uint64_t step) {
    for (KernelCtx & k : staged_kernels()) {
        k.seed = seed;
        k.step = step;
        backend_.run(k);
    }
}

void Executor::download_outputs(bool wait) {
    for (auto & [host, device] : downloads_) backend_.download(host.data, device.data, host.bytes());
    if (wait) backend_.synchronize();
}

void Executor::run(uint64_t seed, uint64_t step) {
    if (host_) {
        launch(seed, step);
        return;
    }
    upload_inputs();
    backend_.run_step(step_key(), StepValues{.seed = seed, .step = step}, [&] { launch(seed, step); });
    download_outputs();
}

void Executor::run_timed(uint64_t seed, uint64_t step, std::vector<double> & seconds) {
    seconds.resize(kernels_.size(), 0.0);
    if (!host_) {
        upload_inputs();
        backend_.run_step(&seconds, StepValues{.seed = seed, .step = step}, [] {});  // waits for the inputs
    }
    std::vector<KernelCtx> & kernels = staged_kernels();
    for (KernelCtx & k : kernels) {
        k.seed = seed;
        k.step = step;
    }
    backend_.run_timed(kernels, seconds);
    if (!host_) download_outputs();
}

}  // namespace dl
