"""Showing results in a notebook: rich Markdown in a Jupyter kernel, plain text anywhere else."""
from __future__ import annotations


def in_notebook() -> bool:
    """True inside a Jupyter kernel (a notebook, nbval, the book build), False in a script or terminal."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return type(get_ipython()).__name__ == "ZMQInteractiveShell"


def show_markdown(text: str) -> None:
    """Render ``text`` as Markdown in a notebook; print it elsewhere."""
    if in_notebook():
        from IPython.display import Markdown, display

        display(Markdown(text))
    else:
        print(text)


def glue(name: str, value: object, *, markdown: bool = False) -> None:
    """Keep ``value`` under ``name`` for the book's prose (myst-nb ``{glue:text}`name``` or, with
    ``markdown=True``, ``{glue:md}`name```), without showing it here.

    Outside a book build (plain Jupyter, Colab, a script) myst-nb may be missing: then nothing happens,
    since only the built book renders glue references.
    """
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return
    if markdown:
        from IPython.display import Markdown

        value = Markdown(str(value))
    myst_glue(name, value, display=False)
