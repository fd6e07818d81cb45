// mnemo/memory/position_convention.hpp — where the ∞-former places the vectors of a segment on
// [0, 1] (infinite_former.md §3.1); apart from ridge_fit.hpp so that the memory's configuration
// names it without Eigen.
#pragma once

namespace mnemo::memory {

/// Where the L stored vectors of a segment sit on [0, 1] (§3.1).
enum class PositionConvention {
  Paper,      // t_i = i/L, i = 1..L (the paper; mnemo's default)
  CellCentre  // t_i = (i − ½)/L (the reference code; reproduces the authors' numbers)
};

}  // namespace mnemo::memory
