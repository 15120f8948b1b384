"""Names vulture reports as unused that are used: dataclass fields read by users and
reports, attributes of third-party objects (ONNX Runtime session options, flatbuffers
builders), parsed configuration fields. Filled by `vulture --make-whitelist` and reviewed."""
