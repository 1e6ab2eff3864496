"""The chapters of the book, built only on :mod:`cgnb.engine`'s public API.

One module per chapter, split by idea where a chapter holds more than one (the parts of one
chapter may import each other; no chapter imports another chapter):

  dosage            chapter 1: agreeing features, majority vote, recognizer networks, reliance, figures
    dosage_training   full-batch binary training that records the gradient dose; the chapter's runs
  anatomy           chapter 2: the forward and backward pass written out, output errors, scaling
    anatomy_units     a unit switched off, width-3 toys
    anatomy_depth     the first-layer gradient against depth
    anatomy_figures   the chapter's figures
  starvation        chapter 3: the two-moons task of Pezeshki et al. (2021), spectral decoupling, its runner, figures
  coherence         chapter 4: alpha_p / alpha_c, null worlds, per-example contributions
    coherence_contributions per-example contributions over the first steps
    coherence_runs    one setting's runs, computed or read back from a stored run; the stored runs
    coherence_figures the chapter's figures
  winsorized        chapter 5: winsorized SGD and RM3 grids, overfit measures
    winsorized_runs   one setting's runs, computed or read back from a stored run; the stored runs
  fields            chapter 6: the character-field task
  minibatch         chapter 6: minibatch gradients at fixed parameters, gradient noise scale
    minibatch_field   the gradient field around two biases and its roughness
    minibatch_runs    the variants trained per seed, per-seed tables
    minibatch_figures the chapter's figures
"""

#: The claims each chapter must check, by chapter id; the claims page lists those no record checks.
EXPECTED_CLAIMS: dict[str, tuple[str, ...]] = {
    "ch1": ("C1.1", "C1.2a", "C1.2", "C1.3"),
    "ch2": ("C2.1", "C2.2", "C2.3", "C2.4", "C2.5"),
    "ch3": ("C3.1", "C3.2", "C3.3"),
    "ch4": ("C4.1", "C4.2", "C4.3", "C4.4", "C4.5", "C4.6"),
    "ch5": ("C5.1", "C5.2", "C5.3", "C5.4"),
    "ch6": ("C6.1", "C6.2", "C6.3"),
}

#: The module holding each chapter's stored runs as ``CATALOG`` (a :class:`cgnb.engine.runs.Catalog`).
STORED_RUN_MODULES: dict[str, str] = {
    "ch4": "cgnb.chapters.coherence_runs",
    "ch5": "cgnb.chapters.winsorized_runs",
}
