"""One module per chapter of the book, built only on :mod:`cgnb.engine`'s public API.

  dose, synthetic   chapters 1 and 3: binary feature tasks, gradient dose, spectral decoupling
  anatomy           chapter 2: what scales a layer's weight gradient
  coherence         chapter 4: alpha_p / alpha_c, null worlds, per-example contributions
  winsorized        chapter 5: winsorized SGD and RM3 grids, overfit measures
  fields, minibatch chapter 6: the character-field task, minibatch sensitivity
"""
