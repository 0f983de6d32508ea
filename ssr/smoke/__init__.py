"""The GPU smoke run's checking logic (``scripts/gpu_smoke.sh``), pure Python so the CPU tests run it on
tiny-model records: ``checks`` (the rules), ``engine_log`` (what vLLM reported at start-up), ``cli`` (the table)."""
