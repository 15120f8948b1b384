"""``gilt net``: layer table for built-in and ONNX models, errors on bad input."""

from gilt.cli import main


def test_net_table(capsys):
    assert main(["net", "resnet50", "--input-size", "32", "--precision", "float32"]) == 0
    out = capsys.readouterr().out
    assert "layer4.2.conv3" in out and "25,557,032 parameters" in out


def test_net_quantized_run(capsys):
    assert main(["net", "gated_net", "--precision", "w4a8", "--run", "--zero-skip"]) == 0
    out = capsys.readouterr().out
    assert "qconv" in out and "skip gate" in out and "model size vs float32" in out


def test_net_onnx_file(tmp_path, capsys):
    import networks
    from networks.onnx_export import export_onnx
    path = tmp_path / "r.onnx"
    export_onnx(networks.build("mobilenetv3_large", input_size=32), path)
    assert main(["net", str(path), "--precision", "w8a8"]) == 0
    assert "qconv" in capsys.readouterr().out


def test_net_bad_name(capsys):
    assert main(["net", "resnet51"]) == 2
    assert "'resnet51' is neither a built-in model" in capsys.readouterr().err
