"""The metric catalogue: per-user quantities and the sums kept of them (:mod:`.quantities`),
the Lua that keeps them (:mod:`.lua`), an arm's sums (:mod:`.sums`) and the metrics estimated
from them (:mod:`.metrics`). Pure: no I/O."""
