"""``adaconv-export``: the style-transfer models (AdaConv, Chandran et al. 2021; AdaIN) as ONNX
graphs, checked in onnxruntime against the PyTorch computation at sizes other than the export's
example, and against ``adaconv-stylize`` on photographs; the export-safe padding and pooling
against torch's own ops; the tool's error contract."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import skimage.data
import torch
import torch.nn.functional as F
from PIL import Image

from adaconv_gen.cli import export, stylize
from adaconv_gen.models.onnx_export import EXAMPLE_CONTENT_HW, EXAMPLE_STYLE_HW, StylizerGraph
from adaconv_gen.models.style_transfer import (
    AdaConvStyleTransfer,
    AdaINStyleTransfer,
    StyleTransferModel,
    adaptive_avg_pool2d,
    avg_pool2d_ceil,
)
from adaconv_gen.models.vgg import write_random_vgg19_weights

TINY = dict(channels=(512, 16, 8, 4))
TINY_ADACONV = dict(TINY, style_channels=8, style_hidden=16)
CONFIGS = ("adaconv-any", "adaconv-paper", "adain")


# ---------------------------------------------------------------------------- export-safe pieces
@pytest.mark.parametrize("h,w", [(1, 1), (5, 30), (8, 8), (9, 15), (16, 16), (37, 53), (40, 41), (71, 8)])
def test_pad_is_the_old_branching_pad(h, w):
    """Reflect to the next multiple of 8 (>= 16), replicate where reflecting cannot: as F.pad."""
    x = torch.randn(2, 3, h, w)
    ph, pw = max(16, -(-h // 8) * 8), max(16, -(-w // 8) * 8)
    mode = "reflect" if (ph - h) < h and (pw - w) < w else "replicate"
    want = x if (ph, pw) == (h, w) else F.pad(x, (0, pw - w, 0, ph - h), mode=mode)
    got, hw = StyleTransferModel._pad(StyleTransferModel, x)
    assert hw == (h, w) and torch.equal(got, want)


@pytest.mark.parametrize("h,w", [(1, 1), (1, 6), (2, 3), (3, 4), (5, 7), (9, 4), (33, 17), (4, 4)])
def test_pooling_matches_torch(h, w):
    x = torch.randn(2, 5, h, w, generator=torch.Generator().manual_seed(h * 100 + w))
    assert torch.equal(avg_pool2d_ceil(x), F.avg_pool2d(x, 2, ceil_mode=True))  # same sums: bitwise
    torch.testing.assert_close(adaptive_avg_pool2d(x, 4), F.adaptive_avg_pool2d(x, 4), rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------- exported graphs
@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    return write_random_vgg19_weights(tmp_path_factory.mktemp("vgg") / "vgg19-dcbb9e9d.pth", seed=0)


def _build(config: str, vgg) -> StyleTransferModel:
    torch.manual_seed(0)
    if config == "adain":
        return AdaINStyleTransfer(vgg_weights=vgg, **TINY).eval()
    return AdaConvStyleTransfer(vgg_weights=vgg, style_size_mode=config.split("-")[1], **TINY_ADACONV).eval()


@pytest.fixture(scope="module")
def exported(vgg_file, tmp_path_factory):
    """Each configuration saved, exported once through ``adaconv-export``, opened in onnxruntime."""
    cache = {}

    def get(config):
        if config not in cache:
            root = tmp_path_factory.mktemp(config)
            _build(config, vgg_file).save_pretrained(root / "model")
            with pytest.raises(SystemExit) as e:
                export.main(["--model", str(root / "model"), "--output", str(root / "stylizer.onnx")])
            assert e.value.code == 0
            opts = ort.SessionOptions()
            opts.log_severity_level = 3  # the "initializer alpha appears in graph inputs" notice
            opts.intra_op_num_threads = 1
            sess = ort.InferenceSession(str(root / "stylizer.onnx"), opts, providers=["CPUExecutionProvider"])
            cache[config] = root, sess
        return cache[config]
    return get


def _rand01(*shape, seed):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


# content sizes: multiples of 8 and not, landscape and portrait, one under 16 (replicate padding);
# style sizes: relu4_1 features smaller (3x5, 4x6 -> pooled below the FC's 4x4) and larger
# (37x35 -> 5x5 after E_S's pools) than the descriptor; none is an example size.
CASES = [((40, 64), (24, 40), None), ((53, 37), (300, 280), 0.4), ((48, 32), (300, 280), None),
         ((37, 83), (33, 50), None), ((9, 70), (256, 256), 0.0)]


@pytest.mark.parametrize("config", CONFIGS)
def test_onnxruntime_matches_pytorch(exported, vgg_file, config):
    root, sess = exported(config)
    graph = StylizerGraph(_build(config, vgg_file))
    for k, (chw, shw, alpha) in enumerate(CASES):
        assert chw != EXAMPLE_CONTENT_HW and shw != EXAMPLE_STYLE_HW
        c, s = _rand01(1, 3, *chw, seed=2 * k), _rand01(1, 3, *shw, seed=2 * k + 1)
        feed = {"content": c.numpy(), "style": s.numpy()}
        if alpha is not None:
            feed["alpha"] = np.array(alpha, dtype=np.float32)
        with torch.no_grad():
            want = graph(c, s, None if alpha is None else torch.tensor(alpha)).numpy()
        (got,) = sess.run(["image"], feed)
        assert got.shape == (1, 3, *chw) and got.dtype == np.float32
        span = float(want.max() - want.min())
        assert span > 0.05  # a real image, not a constant
        err = float(np.abs(got - want).max())
        assert err <= 1e-4 * span, f"{config} content {chw} style {shw} alpha {alpha}: {err} vs range {span}"


def test_graph_interface(exported):
    root, sess = exported("adaconv-any")
    proto = onnx.load(str(root / "stylizer.onnx"))

    def dims(vi):
        return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]
    ins = {vi.name: dims(vi) for vi in proto.graph.input}
    assert ins == {"content": [1, 3, "H", "W"], "style": [1, 3, "h", "w"], "alpha": []}
    assert [(vi.name, dims(vi)) for vi in proto.graph.output] == [("image", [1, 3, "H", "W"])]
    alpha = [t for t in proto.graph.initializer if t.name == "alpha"]
    assert len(alpha) == 1 and onnx.numpy_helper.to_array(alpha[0]).tolist() == 1.0  # the default
    assert [i.name for i in sess.get_overridable_initializers()] == ["alpha"]
    c, s = _rand01(1, 3, 24, 40, seed=50), _rand01(1, 3, 32, 48, seed=51)
    (default,) = sess.run(None, {"content": c.numpy(), "style": s.numpy()})
    (one,) = sess.run(None, {"content": c.numpy(), "style": s.numpy(), "alpha": np.array(1.0, np.float32)})
    (half,) = sess.run(None, {"content": c.numpy(), "style": s.numpy(), "alpha": np.array(0.5, np.float32)})
    assert np.array_equal(default, one) and np.abs(half - one).max() > 1e-5  # alpha reaches the graph


def _photo(path, array):
    Image.fromarray(array).save(path)
    return path


@pytest.mark.parametrize("config,content,style", [
    ("adaconv-any", "chelsea", "coffee"), ("adaconv-any", "astronaut", "chelsea"),
    ("adaconv-paper", "chelsea", "coffee"), ("adain", "coffee", "astronaut"),
])
def test_onnx_agrees_with_adaconv_stylize_on_photographs(exported, config, content, style, tmp_path, capsys):
    """The PNG path of adaconv-stylize vs the graph on the same 8-bit photographs."""
    root, sess = exported(config)
    cp = _photo(tmp_path / f"{content}.png", getattr(skimage.data, content)())
    sp = _photo(tmp_path / f"{style}.png", getattr(skimage.data, style)())
    with pytest.raises(SystemExit) as e:
        stylize.main(["--model", str(root / "model"), "--content", str(cp), "--style", str(sp),
                      "--output", str(tmp_path / "out")])
    assert e.value.code == 0
    want = np.asarray(Image.open(tmp_path / "out" / f"{content}__{style}.png")).astype(np.int64)
    feed = {"content": (np.asarray(Image.open(cp), dtype=np.float32) / 255).transpose(2, 0, 1)[None],
            "style": (np.asarray(Image.open(sp), dtype=np.float32) / 255).transpose(2, 0, 1)[None]}
    (img,) = sess.run(["image"], feed)
    got = np.rint(img[0].transpose(1, 2, 0) * 255).astype(np.int64)
    assert got.shape == want.shape
    diff = np.abs(got - want)
    assert want.std() > 5  # a real picture, not a flat one
    assert (diff <= 2).mean() >= 0.999, f"{(diff <= 2).mean():.5f} of pixels within 2/255, max {diff.max()}"


# ---------------------------------------------------------------------------- the tool's errors
def _export(argv, capsys):
    with pytest.raises(SystemExit) as e:
        export.main([str(a) for a in argv])
    return e.value.code, capsys.readouterr()


def test_export_refuses_to_overwrite_unless_asked(exported, tmp_path, capsys):
    root, _ = exported("adain")
    out = tmp_path / "s.onnx"
    out.write_bytes(b"keep me")
    code, cap = _export(["--model", root / "model", "--output", out], capsys)
    assert code == 2 and cap.err.startswith("error: --output") and "--overwrite" in cap.err
    assert "Traceback" not in cap.err and out.read_bytes() == b"keep me"
    code, cap = _export(["--model", root / "model", "--output", out, "--overwrite", "--opset", "19"], capsys)
    assert code == 0 and onnx.load(str(out)).opset_import[0].version == 19


@pytest.mark.parametrize("case", ["no_model", "folder_output", "old_opset", "new_opset", "no_onnx"])
def test_export_errors(case, exported, tmp_path, capsys, monkeypatch):
    root, _ = exported("adain")
    out = tmp_path / "o" / "s.onnx"
    argv = ["--model", root / "model", "--output", out]
    if case == "no_model":
        argv[1] = tmp_path / "nothing"
    elif case == "folder_output":
        argv[3] = tmp_path
    elif case == "old_opset":
        argv += ["--opset", "17"]
    elif case == "new_opset":
        argv += ["--opset", "999"]
    else:  # onnxscript not installed
        monkeypatch.setattr("importlib.util.find_spec",
                            lambda name, *a: None if name == "onnxscript" else object())
    code, cap = _export(argv, capsys)
    assert code == 2 and "Traceback" not in cap.err and len(cap.err.strip().splitlines()) == 1
    expect = {"no_model": "no such folder, and not a Hub id in the local cache", "folder_output": "is a folder", "old_opset": "--opset",
              "new_opset": "--opset", "no_onnx": 'pip install "adaconv-gen[onnx]"'}[case]
    assert expect in cap.err
    assert not out.exists() and not any(p.suffix == ".onnx" for p in tmp_path.rglob("*"))
