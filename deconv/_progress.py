"""Optional progress bars: tqdm when installed and asked for, a silent no-op otherwise."""

__all__ = ["progress_bar"]


class _NoBar:
    def __init__(self, total=None, desc=None):
        self.total = total

    def update(self, n=1):
        pass

    def set_postfix_str(self, s):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def progress_bar(total, desc=None, enabled=False):
    """Return a bar with ``update(n)``/``close()``; tqdm if ``enabled`` and importable."""
    if not enabled:
        return _NoBar(total, desc)
    try:
        from tqdm.auto import tqdm
    except ImportError:
        import warnings

        from deconv.exceptions import DeconvWarning
        warnings.warn("progress=True needs the optional 'tqdm' package "
                      "(pip install deconv-toolkit[progress]); continuing without a bar",
                      DeconvWarning, stacklevel=3)
        return _NoBar(total, desc)
    return tqdm(total=total, desc=desc)
