"""A faster botocore data loader for the one S3 client a process creates.

botocore's own loader costs ~50 ms of CPU per new session, all at start-up (issue 17
item 2): it lists every one of its ~400 bundled service directories (~900 ``listdir``
and ~2,800 ``stat`` calls) only to check that ``s3`` is a known name, and parses its
JSON models (1.2 MB of ``endpoints.json`` among them) into ``OrderedDict`` objects with
the pure-Python hook. This loader reads the same files from the same search path
(``AWS_DATA_PATH`` included) with orjson into plain dicts, which keep insertion order,
and looks a service up by its own directory: an unknown name still fails, with
botocore's ``DataNotFoundError`` rather than ``UnknownServiceError``.
"""

from __future__ import annotations

import os
from typing import Any

import orjson
from botocore.loaders import JSONFileLoader, Loader


class OrjsonFileLoader(JSONFileLoader):  # type: ignore[misc]  # botocore is untyped
    """``JSONFileLoader`` parsing with orjson (plain dicts, same content)."""

    def _load_file(self, full_path: str, open_method: Any) -> Any:
        if not os.path.isfile(full_path):
            return None
        with open_method(full_path, "rb") as fp:
            return orjson.loads(fp.read())


class ServiceLoader(Loader):  # type: ignore[misc]  # botocore is untyped
    """botocore's ``Loader`` without the scan of every service directory per model."""

    def load_service_model(
        self, service_name: str, type_name: str, api_version: str | None = None
    ) -> Any:
        """Same as botocore's, minus ``list_available_services`` (the version lookup
        already fails for a service with no directory)."""
        if api_version is None:
            api_version = self.determine_latest_version(service_name, type_name)
        model = self.load_data(os.path.join(service_name, api_version, type_name))
        extras = self._find_extras(service_name, type_name, api_version)
        self._extras_processor.process(model, extras)
        return model


def fast_loader(data_path: str | None) -> Loader:
    """The loader for ``data_path`` (botocore's ``data_path`` setting: ``AWS_DATA_PATH``)."""
    paths = None
    if data_path is not None:
        paths = [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)]
    return ServiceLoader(extra_search_paths=paths, file_loader=OrjsonFileLoader())
