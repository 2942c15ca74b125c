"""Where the C++ headers that generated projects include come from: all from Python packages."""

from __future__ import annotations

from pathlib import Path

from trigdeploy.errors import TrigdeployError


def ap_include() -> Path:
    """The ``ap_`` headers hls4ml ships (``templates/vivado/ap_types``); conifer's wheel has none."""
    import hls4ml

    path = Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"
    if not (path / "ap_fixed.h").is_file():
        raise TrigdeployError(f"ap_ headers not found at {path} (hls4ml installation incomplete)")
    return path


def json_include() -> Path:
    """The nlohmann JSON headers conifer's C++ emulation includes (PyPI ``nlohmann-json``)."""
    try:
        import nlohmann_json
    except ImportError:
        raise TrigdeployError(
            "conifer C++ emulation needs the nlohmann JSON headers: pip install nlohmann-json "
            "(a dependency of trigdeploy; reinstall it)"
        ) from None
    path = Path(nlohmann_json.__file__).parent / "include"
    if not (path / "nlohmann" / "json.hpp").is_file():
        raise TrigdeployError(f"nlohmann/json.hpp not found under {path} (nlohmann-json installation incomplete)")
    return path
