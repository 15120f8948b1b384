"""Golden vectors (files test benches read) and the harness that checks kernels."""
