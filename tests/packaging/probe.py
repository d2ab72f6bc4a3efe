"""Run by a function's own venv (`python -I probe.py SOURCE_DIR IMPORTS_JSON`), never by the test process:
imports the unpacked function as the runtime does and prints what it found as JSON on stdout.

- `registered`: functions-framework's registry after `import main` (name -> signature type) and the names
  registered by the `aio` decorators (served by the ASGI stack);
- `apps`: for each registered name, the type of the app `functions_framework.create_app` builds, or the error;
- `missing`: the imports of IMPORTS_JSON (`[[module, name or null], ...]`) that fail, with the error;
- `foreign`: loaded modules whose file is outside the source dir and the venv's interpreter (a repo leak);
- `stray_paths`: sys.path entries outside those places.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path


def _try_import(module: str, name: str | None) -> str | None:
    try:
        loaded = importlib.import_module(module)
        if name is not None and not hasattr(loaded, name):
            importlib.import_module(f"{module}.{name}")  # `from package import submodule`
    except Exception as error:  # any failure to import is what the test reports
        return f"{type(error).__name__}: {error}"
    return None


def main() -> None:
    source_dir, imports_json = Path(sys.argv[1]).resolve(), sys.argv[2]
    os.chdir(source_dir)
    sys.path.insert(0, str(source_dir))

    import functions_framework
    from functions_framework import _function_registry as registry

    importlib.import_module("main")
    registered = dict(registry.REGISTRY_MAP)
    asgi = sorted(registry.ASGI_FUNCTIONS)
    apps: dict[str, str] = {}
    create_app: Callable[..., object] = functions_framework.create_app  # untyped upstream
    for target in registered:
        try:
            apps[target] = type(create_app(target=target, source="main.py")).__name__
        except Exception as error:  # reported, not raised: the test names the entry point
            apps[target] = f"error {type(error).__name__}: {error}"

    missing = {}
    for module, name in json.loads(imports_json):
        problem = _try_import(module, name)
        if problem is not None:
            missing[f"{module}:{name}" if name else module] = problem

    # The venv's own files and the base interpreter's standard library; this script itself is `__main__`.
    paths = sysconfig.get_paths()
    allowed = (str(source_dir), sys.prefix, paths["stdlib"], paths["platstdlib"])
    files = (getattr(module, "__file__", None) for name, module in list(sys.modules.items()) if name != "__main__")
    foreign = sorted(str(file) for file in files if file and not str(file).startswith(allowed))
    # (python311.zip is always listed, and never exists.)
    stray_paths = [entry for entry in sys.path if os.path.exists(entry) and not entry.startswith(allowed)]
    report = {"registered": registered, "asgi": asgi, "apps": apps, "missing": missing, "foreign": foreign}
    print(json.dumps({**report, "stray_paths": stray_paths}))


if __name__ == "__main__":
    main()
