// mnemo/autograd/tape_members.hpp — the members of autograd::Tape (autograd/tape.hpp) that are not
// templates. Header-only mode: tape.hpp includes this header and they are inline. Compiled mode
// (MNEMO_COMPILED): mnemo::compiled includes it in exactly one translation unit
// (src/compiled/backend_nn_float.cpp), where they are compiled once, not inline; a user translation
// unit does not include it.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "mnemo/autograd/tape.hpp"
#include "mnemo/core/error.hpp"

#if defined(MNEMO_COMPILED)
#define MNEMO_TAPE_MEMBER
#else
#define MNEMO_TAPE_MEMBER inline
#endif

namespace mnemo::autograd {

MNEMO_TAPE_MEMBER void Tape::record(Backward backward, std::vector<std::shared_ptr<GradSlotBase>> outputs) {
  nodes_.push_back(Node{std::move(backward), std::move(outputs)});
}

MNEMO_TAPE_MEMBER void Tape::rewind(size_t mark) {
  if (mark > nodes_.size())
    throw StateError(detail::cat("rewind(", mark, "): the tape holds only ", nodes_.size(), " nodes"));
  nodes_.resize(mark);
}

MNEMO_TAPE_MEMBER void Tape::clear() { nodes_.clear(); }

MNEMO_TAPE_MEMBER void Tape::final_sweep() {
  observer_ = detail::g_gradient_observer;
  first_uses_.clear();
  seen_.clear();
}

MNEMO_TAPE_MEMBER void Tape::note_use(const GradSlotBase* slot) {
  if (observer_ != nullptr && seen_.insert(slot).second) first_uses_.emplace_back(nodes_.size(), slot);
}

MNEMO_TAPE_MEMBER void Tape::backward(size_t from) {
  if (from > nodes_.size())
    throw StateError(detail::cat("backward(", from, "): the tape holds only ", nodes_.size(), " nodes"));
  if (observer_ != nullptr) observer_->final_sweep_begins(seen_);
  for (size_t i = nodes_.size(); i-- > from;) {
    Node& node = nodes_[i];
    bool any = false;
    for (const auto& s : node.outputs) any = any || s->has_grad();
    if (any) {  // otherwise nothing flows through this node
      node.backward();
      for (const auto& s : node.outputs) s->release();
    }
    if (observer_ != nullptr) report_final(i);
  }
  if (observer_ != nullptr) {
    report_final(from);
    observer_ = nullptr;  // reported once, for this sweep
  }
}

MNEMO_TAPE_MEMBER void Tape::report_final(size_t swept) {
  while (!first_uses_.empty() && first_uses_.back().first >= swept) {
    observer_->gradient_final(*first_uses_.back().second);
    first_uses_.pop_back();
  }
}

}  // namespace mnemo::autograd

#undef MNEMO_TAPE_MEMBER
