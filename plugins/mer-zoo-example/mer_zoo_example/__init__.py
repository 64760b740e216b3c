"""An example mer-zoo plugin: a model (``model.py``) and a feature set (``features.py``).

Each comes through its own entry point in ``pyproject.toml``; nothing is imported here, so
loading the feature set never pulls in torch (extraction workers stay light).
"""
