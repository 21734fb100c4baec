"""The .keras loader checks what a file will build before Keras builds it (cnn_core.common.keras_archive):
the network against the bounds, and the archive's true sizes rather than its headers."""
import io
import json
import struct
import subprocess
import sys
import zipfile

import pytest

from cnn_core.common.config import ModelConfig
from cnn_core.common.keras_archive import network_of
from cnn_core.common.limits import Limits
from cnn_core.common.runs import RunError
from tests.conftest import ROOT
from tests.support import SHIPPED_FOLDER

TINY = ModelConfig(conv_channels=(4, 8), hidden_units=8)


def members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_archive(path, files: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)


def with_hidden_units(config: bytes, units: int) -> bytes:
    saved = json.loads(config)
    saved["config"]["layers"][-2]["config"]["units"] = units
    return json.dumps(saved).encode()


@pytest.fixture
def keras_calls(monkeypatch):
    """Every call that would reach Keras' loader, recorded instead."""
    from keras.src.saving import saving_lib

    calls = []
    monkeypatch.setattr(saving_lib, "load_model", lambda *args, **kwargs: calls.append(args))
    return calls


def test_the_shipped_models_describe_their_own_networks():
    for folder in (SHIPPED_FOLDER, SHIPPED_FOLDER.parent / "mlp-mnist"):
        meta = json.loads((folder / "meta.json").read_text())
        assert network_of(folder / "model.keras") == ModelConfig.from_dict(meta["model"])


def test_a_tiny_file_declaring_a_huge_dense_layer_never_reaches_keras(tiny_models, tmp_path, keras_calls):
    """Issue 19: 932 bytes declaring Dense(150000) took 5 GB."""
    from cnn_core.worker.saving import load_model_file

    files = members(tiny_models.cnn.folder / "model.keras")
    evil = tmp_path / "evil.keras"
    write_archive(evil, {**files, "config.json": with_hidden_units(files["config.json"], 150_000),
                         "model.weights.h5": b"\0" * 500})
    with pytest.raises(RunError, match="cannot load model .*hidden_units must be an integer from 1 to 1024"):
        load_model_file(evil)
    write_archive(evil, {**files, "config.json": with_hidden_units(files["config.json"], 1000)})
    with pytest.raises(RunError, match=r"declares [\d,]+ parameters but holds [\d,]+ bytes of weights"):
        load_model_file(evil)
    assert keras_calls == []


def patch_sizes(data: bytes, name: str, size: int) -> bytes:
    """The archive with ``name``'s unpacked size fields (local header and central directory) set to ``size``."""
    data, encoded = bytearray(data), name.encode()
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = 0
        while (at := data.find(signature, at)) >= 0:
            name_at = at + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at:name_at + len(encoded)] == encoded:
                data[at + offset:at + offset + 4] = struct.pack("<I", size)
            at += 4
    return bytes(data)


@pytest.mark.parametrize("declared", [64, 60 * 2**20], ids=["too-small", "too-large"])
def test_an_archive_that_lies_about_its_sizes_is_refused_from_its_real_ones(tiny_models, tmp_path, declared, keras_calls):
    """Issue 19: a 306 KB file with a false size header cost 600 MB before 'Bad CRC'."""
    from cnn_core.worker.saving import load_model_file

    buffer = io.BytesIO()
    files = members(tiny_models.cnn.folder / "model.keras")
    write_archive(buffer, {**files, "model.weights.h5": files["model.weights.h5"] + bytes(50 * 2**20)})
    liar = tmp_path / "liar.keras"
    liar.write_bytes(patch_sizes(buffer.getvalue(), "model.weights.h5", declared))
    assert liar.stat().st_size < 400_000
    with pytest.raises(RunError, match="liar.keras: not a .keras archive|unpacks to more than"):
        load_model_file(liar)
    assert keras_calls == []


def test_a_network_over_the_parameter_bound_or_of_another_shape_is_refused(tiny_models, tmp_path):
    path = tiny_models.cnn.folder / "model.keras"
    assert network_of(path, Limits(max_parameters=10_000)) == TINY
    with pytest.raises(RunError, match="a network of .* parameters; this machine loads at most 1,000"):
        network_of(path, Limits(max_parameters=1_000))
    files = members(path)
    extra = tmp_path / "extra.keras"
    write_archive(extra, {**files, "assets/payload.bin": b"x"})
    with pytest.raises(RunError, match="not a model CNN Lab saved"):
        network_of(extra)
    saved = json.loads(files["config.json"])
    saved["config"]["layers"][1]["config"]["strides"] = [2, 2]
    write_archive(extra, {**files, "config.json": json.dumps(saved).encode()})
    with pytest.raises(RunError, match="not a network CNN Lab builds: conv1 is not a square, stride-1"):
        network_of(extra)


def test_the_command_line_refuses_it_in_one_line_without_loading_tensorflow(tiny_models, tmp_path):
    files = members(tiny_models.cnn.folder / "model.keras")
    evil = tmp_path / "evil.keras"
    write_archive(evil, {**files, "config.json": with_hidden_units(files["config.json"], 150_000)})
    code = ("import sys; from cnn_core.cli import main; code = main(['evaluate', '--model', sys.argv[1]]); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))); sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", code, str(evil)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stdout.strip() == "[]", result.stdout + result.stderr[-2000:]
    assert result.stderr.startswith("error: evil.keras: cannot load model") and result.stderr.count("\n") == 1
