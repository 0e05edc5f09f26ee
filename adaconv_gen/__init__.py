"""adaconv-gen: Adaptive Convolutions (Chandran et al., CVPR 2021) as a drop-in for AdaIN."""

__version__ = "0.1.0"
