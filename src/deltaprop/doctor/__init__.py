"""The training doctor: name what went wrong in a run, with the numbers and what to change.

:func:`diagnose` (``dp.diagnose``) reads a network, its data and its History and returns a
:class:`Diagnosis` of :class:`Finding` objects. The codes, each decided by one detector:

=======================  =====================================================================
code                     seen as
=======================  =====================================================================
``dead_units``           ReLU-family units whose z <= 0 on every row (fraction per layer)
``saturated_units``      sigmoid/tanh units with f'(z) near 0 on most rows
``vanishing_gradients``  a layer's gradient norm orders of magnitude below the output layer's
``exploding_gradients``  ... orders of magnitude above it, or a norm that grew 1000-fold
``symmetric_units``      units with (near-)identical incoming weights and bias
``lr_too_high``          divergence, or a loss that climbs back up or swings
``lr_too_low``           a loss falling in a straight, slow line, far from converged
``plateau``              a flat loss no better than a constant, with a near-zero gradient
``overfitting``          validation loss rising while the training loss falls
``unscaled_inputs``      features on very large or very different scales
=======================  =====================================================================

Modules: :mod:`~deltaprop.doctor.findings` (what is reported), :mod:`~deltaprop.doctor.observe`
(the numbers gathered once), the detectors (:mod:`~deltaprop.doctor.units`,
:mod:`~deltaprop.doctor.gradients`, :mod:`~deltaprop.doctor.curves`,
:mod:`~deltaprop.doctor.inputs`), and :mod:`~deltaprop.doctor.thresholds` (every threshold,
with its measurement).
"""

from deltaprop.doctor.diagnose import diagnose
from deltaprop.doctor.findings import Diagnosis, Finding

__all__ = ["diagnose", "Diagnosis", "Finding"]
