"""Shared plumbing of every gilt package: atomic file output (:mod:`common.files`), storage and
convolution geometry (:mod:`common.geometry`), the workload contract between the golden run and
the simulators (:mod:`common.workload`) and the version string (:mod:`common.version`).

``common`` sits on the ground floor beside ``reference``: it imports ``reference`` (for the one
definition of convolution geometry) and nothing else of gilt."""
