"""The style-transfer models (AdaConv, Chandran et al., CVPR 2021; AdaIN, Huang & Belongie,
ICCV 2017) exported to one ONNX graph that does everything ``adaconv-stylize`` does.

:class:`StylizerGraph` is the graph's computation written in PyTorch: images in ``[0, 1]`` are
mapped to ``[-1, 1]``, the style is resized to 256x256 in the paper's style size mode, the
descriptor is blended with the content's own by ``alpha``, the content is padded to the
encoder's multiple, stylised, cropped back and mapped to ``[0, 1]``. :func:`export_stylizer`
traces it with ``torch.export`` (all four image sides dynamic) and converts it with torch's
ONNX exporter; the parity tests compare onnxruntime's output with :class:`StylizerGraph`.

Graph: inputs ``content (1, 3, H, W)``, ``style (1, 3, h, w)`` float32 in ``[0, 1]``, ``alpha``
a float32 scalar whose default is 1 (an initializer of the same name: a caller that does not
feed it gets 1); output ``image (1, 3, H, W)`` in ``[0, 1]``.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch
from torch import nn

from ..errors import UserInputError
from ..files import atomic_path
from .style_transfer import PAPER_STYLE_SIZE, StyleTransferModel, _interp

__all__ = [
    "ONNX_INSTALL_HINT",
    "DEFAULT_OPSET",
    "StylizerGraph",
    "require_onnx_packages",
    "export_stylizer",
]

ONNX_INSTALL_HINT = 'pip install "adaconv-gen[onnx]"'
DEFAULT_OPSET = 18  # the first opset whose Resize has antialiasing (the paper mode's style resize)
# Example sizes for tracing. None is a size the graph is specialised to (every side is dynamic);
# they are chosen so that no intermediate side is 1 (torch.export would fix such a side).
EXAMPLE_CONTENT_HW = (136, 104)
EXAMPLE_STYLE_HW = (120, 152)


def require_onnx_packages(names: tuple[str, ...] = ("onnx", "onnxscript")) -> None:
    """Raise a one-line :class:`UserInputError` naming the ``[onnx]`` extra if one is missing."""
    missing = [n for n in names if importlib.util.find_spec(n) is None]
    if missing:
        raise UserInputError(f"ONNX export needs the package(s) {', '.join(missing)}: {ONNX_INSTALL_HINT}")


class StylizerGraph(nn.Module):
    """``adaconv-stylize``'s computation on float images: what the exported graph computes.

    Args:
        model: an AdaConv or AdaIN :class:`~adaconv_gen.models.style_transfer.StyleTransferModel`.
    """

    def __init__(self, model: StyleTransferModel) -> None:
        super().__init__()
        self.model = model
        self.paper_mode = getattr(model, "style_size_mode", "any") == "paper"

    def _descriptor(self, image: torch.Tensor) -> torch.Tensor:
        """Descriptor of an image in ``[-1, 1]``: ``model.encode_style``, with the paper mode's
        resize done unconditionally (at 256x256 it is the identity, bit for bit), so the graph
        does not depend on whether the example was 256x256."""
        if self.paper_mode:
            image = _interp(image, (PAPER_STYLE_SIZE, PAPER_STYLE_SIZE))
        return self.model.encode_style(image)

    def forward(self, content: torch.Tensor, style: torch.Tensor,
                alpha: torch.Tensor | None = None) -> torch.Tensor:
        """``content (1, 3, H, W)``, ``style (1, 3, h, w)`` in [0, 1], ``alpha`` a scalar tensor
        (None: 1) -> ``(1, 3, H, W)`` in [0, 1]."""
        x = (content - 0.5) / 0.5  # as adaconv_gen.data.images.load_image_tensor normalises
        d = self._descriptor((style - 0.5) / 0.5)
        if alpha is None:
            alpha = torch.ones((), dtype=x.dtype, device=x.device)

        def blend(d, x, alpha):
            return alpha * d + (1.0 - alpha) * self._descriptor(x)

        def keep(d, x, alpha):
            return d.clone()

        # An If node in ONNX: the content's own descriptor (a second encoder pass) only when
        # alpha != 1, as StyleTransferModel.stylize does.
        d = torch.cond(alpha != 1.0, blend, keep, (d, x, alpha))
        y = self.model.stylize(x, descriptor=d)
        return ((y + 1.0) / 2.0).clamp(0.0, 1.0)  # as save_image_grid maps [-1, 1] to [0, 1]


def _rename_dims(proto, names: dict[str, str]) -> None:
    """Give the symbolic sides readable names (H, W, h, w) everywhere in the graph's types."""
    def fix(value_infos):
        for vi in value_infos:
            for dim in vi.type.tensor_type.shape.dim:
                if dim.dim_param in names:
                    dim.dim_param = names[dim.dim_param]
    g = proto.graph
    fix(g.input)
    fix(g.output)
    fix(g.value_info)


def export_stylizer(model: StyleTransferModel, path: str | os.PathLike, *,
                    opset: int = DEFAULT_OPSET) -> Path:
    """Export ``model`` as one ONNX graph (see the module docstring), written atomically.

    Args:
        model: AdaConv or AdaIN style-transfer model (moved to CPU float32, eval mode).
        path: the ``.onnx`` file.
        opset: ONNX opset (>= 18).

    Returns:
        ``path``.

    Raises:
        UserInputError: a missing ``onnx`` / ``onnxscript`` package, or an opset out of range.
    """
    require_onnx_packages()
    import onnx

    if not DEFAULT_OPSET <= opset <= onnx.defs.onnx_opset_version():
        raise UserInputError(f"--opset must be between {DEFAULT_OPSET} (antialiased Resize) and "
                             f"{onnx.defs.onnx_opset_version()} (this onnx package), got {opset}")
    graph = StylizerGraph(model.to("cpu", torch.float32).eval()).eval()
    g = torch.Generator().manual_seed(0)
    example = (torch.rand(1, 3, *EXAMPLE_CONTENT_HW, generator=g),
               torch.rand(1, 3, *EXAMPLE_STYLE_HW, generator=g), torch.tensor(1.0))
    dyn = torch.export.Dim.DYNAMIC
    with torch.no_grad():
        # Guards that torch's shape reasoning cannot prove (e.g. that a pooled side stays >= 1)
        # become runtime asserts instead of failures; the sizes stay symbolic.
        program = torch.export.export(
            graph, example, dynamic_shapes={"content": {2: dyn, 3: dyn}, "style": {2: dyn, 3: dyn},
                                            "alpha": None},
            strict=False, prefer_deferred_runtime_asserts_over_guards=True)
        onnx_program = torch.onnx.export(program, example, input_names=["content", "style", "alpha"],
                                         output_names=["image"], opset_version=opset, dynamo=True,
                                         verbose=False)
    proto = onnx_program.model_proto
    symbols = {}
    for vi, sides in zip(proto.graph.input[:2], (("H", "W"), ("h", "w"))):
        dims = vi.type.tensor_type.shape.dim
        symbols.update({dims[2].dim_param: sides[0], dims[3].dim_param: sides[1]})
    _rename_dims(proto, symbols)
    # alpha's default: an initializer with the input's name (ONNX: a default a caller may override)
    proto.graph.initializer.append(onnx.numpy_helper.from_array(
        torch.ones(()).numpy().astype("float32"), name="alpha"))
    proto.doc_string = (f"adaconv-gen {model.model_type} stylizer: content (1,3,H,W) and style "
                        "(1,3,h,w) in [0,1], alpha scalar (default 1) -> image (1,3,H,W) in [0,1]")
    onnx.checker.check_model(proto)
    path = Path(path)
    with atomic_path(path, suffix=".onnx") as tmp:
        onnx.save_model(proto, str(tmp))
    return path
