"""The pipeline file's YAML reader is :mod:`release.yamlsource`, which the layers below
the pipeline (certificate files, workflow documents) use too; this name stays for the
callers that import it from here."""

from release.yamlsource import (
    MAX_EXPANDED_NODES,
    MAX_FILE_BYTES,
    YamlDocument,
    YamlPath,
    dotted,
    parse,
    read_text,
)

__all__ = ["MAX_EXPANDED_NODES", "MAX_FILE_BYTES", "YamlDocument", "YamlPath", "dotted",
           "parse", "read_text"]
