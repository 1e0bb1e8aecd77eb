"""Building blocks of pgshift's benchmark (``python bench/run.py``)."""
