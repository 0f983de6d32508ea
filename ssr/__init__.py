"""SSR: Speculative Parallel Scaling Reasoning at test time (Chu et al., arXiv 2505.15340)."""

__version__ = "0.1.0"
