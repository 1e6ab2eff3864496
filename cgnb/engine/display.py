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
