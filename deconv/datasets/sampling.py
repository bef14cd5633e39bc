"""Data sets of the sampling part: eight schools (published) and a simulated radon-like set."""
import numpy as np

__all__ = ["eight_schools", "radon_like"]


def eight_schools():
    """Coaching effects in eight schools (Rubin 1981; Gelman et al., BDA3, Table 5.2).

    Returns a dict with ``y`` (estimated effects), ``sigma`` (their standard errors, the name
    the sampler's models use) and ``school``. The numbers come from
    :func:`deconv.datasets.load_eight_schools` (one copy of the data in the package).
    """
    from deconv.datasets.hierarchical import load_eight_schools

    data = load_eight_schools()
    return {"y": data["y"], "sigma": data["se"], "school": np.asarray(data["school"], dtype=str)}


def radon_like(rng=0, n_groups=85, n=919, random_slopes=False):
    """A simulated data set shaped like the Minnesota radon data of Gelman & Hill (2007).

    The real survey (919 houses in 85 counties) is not bundled; this generator keeps its shape
    and rough magnitudes: unbalanced county sizes (a few large counties, many with 1-5 houses),
    a floor indicator ``x`` (0 basement, 1 first floor; about 17% ones), log-radon
    ``y = a_county + b x + e`` with ``a ~ N(1.5, 0.3^2)``, ``b = -0.7`` (or varying by county
    with sd 0.3 when ``random_slopes``), ``e ~ N(0, 0.75^2)``.

    Returns a dict with ``y``, ``x``, ``county`` (0..n_groups-1) and the true parameters.
    """
    rng = np.random.default_rng(rng)
    # county sizes: lognormal weights, every county at least one house
    w = rng.lognormal(0.0, 1.2, size=n_groups)
    sizes = 1 + rng.multinomial(n - n_groups, w / w.sum())
    county = np.repeat(np.arange(n_groups), sizes)
    x = (rng.uniform(size=n) < 0.17).astype(float)
    a = rng.normal(1.5, 0.3, size=n_groups)
    b = rng.normal(-0.7, 0.3, size=n_groups) if random_slopes else np.full(n_groups, -0.7)
    y = a[county] + b[county] * x + rng.normal(0, 0.75, size=n)
    return {"y": y, "x": x, "county": county, "a": a, "b": b, "sigma_y": 0.75}
