// mnemo/memory/continuous_operators_fwd.hpp — declarations of the ∞-former memory's constant
// operators (continuous_operators.hpp). The memory and the model hold them through a shared_ptr,
// so in a user TU of the compiled mode, where their members are compiled in mnemo::compiled, the
// declarations suffice and Eigen (the operators are built with it) is not parsed.
#pragma once

namespace mnemo::memory {

template <class T, class B>
struct LengthOperators;
template <class T, class B>
class ContinuousOperators;

}  // namespace mnemo::memory
