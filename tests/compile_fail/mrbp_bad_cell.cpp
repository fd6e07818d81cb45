// Must NOT compile: train::Mrbp over a type that is not a train::RecurrentCell. The CTest
// `mrbp_rejects_bad_cell` builds it and passes when the compiler prints the static_assert's
// message (a readable error, not pages of template noise).
#include "mnemo/train/mrbp.hpp"

struct NotACell {  // a state and an input, but no step() and no parameter_stores()
  using value_type = double;
  using backend = mnemo::Cpu;
  using State = mnemo::train::CellState<double, mnemo::Cpu, 1>;
  struct Input {};
};

int main() {
  mnemo::train::Mrbp<NotACell> trainer;
  (void)trainer;
}
