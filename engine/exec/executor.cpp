#include "exec/executor.h"

#include <algorithm>
#include <chrono>

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

Executor::Executor(Graph graph, ParamStore & params, ThreadPool & pool, Backend & backend)
    : graph_(std::move(graph)), plan_(plan_memory(graph_)), backend_(backend) {
    arena_ = Tensor(Shape{static_cast<int64_t>((plan_.arena_bytes + 3) / 4)}, DType::f32);
    auto * base = static_cast<std::byte *>(arena_.view().data);
    views_.resize(graph_.nodes().size());
    for (const Node & n : graph_.nodes()) {
        if (n.dead) continue;
        TensorView & v = views_[static_cast<size_t>(n.id)];
        v.shape = n.shape;
        v.dtype = n.dtype;
        if (n.op == "param") {
            v.data = params.at(n.name).view().data;
            DL_ASSERT(params.at(n.name).shape() == n.shape);
        } else if (n.op == "input") {
            Tensor & t = inputs_.emplace(n.name, Tensor(n.shape, n.dtype)).first->second;
            v.data = t.view().data;
        } else if (n.op == "const") {
            v.data = n.value->view().data;
        } else {
            v.data = base + plan_.offset[static_cast<size_t>(n.id)];
        }
    }
    size_t workspace_bytes = 0;
    for (int id : plan_.schedule) {
        const Node & n = graph_.node(id);
        ShapeCtx shapes{graph_, n};
        if (n.def->workspace) workspace_bytes = std::max(workspace_bytes, n.def->workspace(shapes, pool.size()));
    }
    if (workspace_bytes > 0) workspace_ = Tensor(Shape{static_cast<int64_t>((workspace_bytes + 3) / 4)}, DType::f32);
    kernels_.reserve(plan_.schedule.size());
    for (int id : plan_.schedule) {
        const Node & n = graph_.node(id);
        DL_ASSERT(backend_.supports(n));
        KernelCtx k{.node = n, .output = views_[static_cast<size_t>(id)], .pool = pool};
        for (int in : n.inputs) k.inputs.push_back(views_[static_cast<size_t>(in)]);
        if (n.def->workspace) {
            ShapeCtx shapes{graph_, n};
            k.workspace = static_cast<std::byte *>(workspace_.view().data);
            k.workspace_bytes = n.def->workspace(shapes, pool.size());
        }
        kernels_.push_back(std::move(k));
    }
}

TensorView Executor::input(const std::string & name) {
    auto it = inputs_.find(name);
    DL_ASSERT(it != inputs_.end());
    return it->second.view();
}

TensorView Executor::output(const std::string & name) const {
    auto it = graph_.outputs().find(name);
    DL_ASSERT(it != graph_.outputs().end());
    return views_[static_cast<size_t>(it->second)];
}

void Executor::run(uint64_t seed, uint64_t step) {
    for (KernelCtx & k : kernels_) {
        k.seed = seed;
        k.step = step;
        backend_.run(k);
    }
}

void Executor::run_timed(uint64_t seed, uint64_t step, std::vector<double> & seconds) {
    seconds.resize(kernels_.size(), 0.0);
    for (size_t i = 0; i < kernels_.size(); ++i) {
        KernelCtx & k = kernels_[i];
        k.seed = seed;
        k.step = step;
        const auto t0 = std::chrono::steady_clock::now();
        backend_.run(k);
        seconds[i] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
}

}  // namespace dl
