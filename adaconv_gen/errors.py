"""Errors that mean "the user gave us something we cannot use".

Console tools and recipes catch :class:`UserInputError` and print its message without a
traceback (exit status 2); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserInputError(Exception):
    """Bad input from the user: a missing file, a corrupt image, a wrong argument."""


class WeightsNotFoundError(UserInputError, FileNotFoundError):
    """A pretrained file could not be found by the resolver (see :mod:`adaconv_gen.weights`)."""


class BadImageError(UserInputError):
    """An image file that cannot be read or decoded; the message names the file."""


class ConversionError(UserInputError):
    """An AdaIN -> AdaConv swap that could not be done, or was not lossless."""
