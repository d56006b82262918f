"""`serve()` refuses public addresses unless asked; loopback detection."""

from __future__ import annotations

from sora_tui.tui.serve import is_loopback, serve


def test_loopback_detection():
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("192.168.1.10")


def test_refuses_public_address_without_flag(capsys):
    assert serve(host="0.0.0.0", port=8765) == 2
    err = capsys.readouterr().err
    assert "refusing" in err and "--public" in err and "authentication" in err


def test_rejects_bad_port(capsys):
    assert serve(host="127.0.0.1", port=70000) == 2
    assert "out of range" in capsys.readouterr().err
