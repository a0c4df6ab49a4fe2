#!/usr/bin/env python3
"""Generate reference vectors for leakhound-analysis estimator unit tests.

Regenerate (from the repository root, /work/main):

    pip install scipy==1.17.1 statsmodels==0.15.0 pymannkendall==1.4.3 numpy==2.4.6
    python3 tools/reference/make_reference.py

Output: crates/leakhound-analysis/tests/fixtures/reference.json
(the path is resolved relative to this file, so the cwd does not matter).

Library versions used for the committed fixture:
    python 3.11.7, numpy 2.4.6, scipy 1.17.1, statsmodels 0.15.0,
    pymannkendall 1.4.3
(the versions actually used are also recorded in the JSON under "versions").

Determinism: every case draws from its own numpy.random.default_rng(seed)
with a fixed seed, and all input data (x, y) are rounded to a few decimals
so that each value is a short decimal string in the JSON (<= 15 significant
digits), which any JSON parser (including serde_json without the
`float_roundtrip` feature) reads back as exactly the f64 Python used.
Output floats are written with repr (shortest round-trip, full precision).

What is computed per case (x sorted ascending, y in time order):
  ols          scipy.stats.linregress(x, y); ci95 = slope -/+ t.ppf(0.975, n-2)*stderr
  ols_exact    exact rational least squares (fractions.Fraction) on the f64
               inputs, rounded once to f64 -- the conditioning ground truth
  hac          statsmodels OLS(y, add_constant(x)).fit(cov_type="HAC",
               cov_kwds={"maxlags": L, "use_correction": c, "kernel": "bartlett"})
               for (L, c) in (0,F), (2,F), (5,F), (2,T).  For "realistic_units"
               statsmodels is fitted on x - hac_x_shift (it fails on raw
               x ~ 1.7e9, see compute_case) and intercept/intercept_se are
               mapped back to the original x; acf1/ar1 use those residuals.
  theil_sen    scipy.stats.theilslopes(y, x, alpha=0.95, method="separate")
               (+ "intercept_joint" from method="joint")
  siegel       scipy.stats.siegelslopes(y, x)  (method="hierarchical", default)
  mann_kendall pymannkendall.original_test(y, alpha=0.05)
               NOTE: its slope/intercept use the index 0..n-1 as x, not x.
  hamed_rao    pymannkendall.hamed_rao_modification_test(y)  (alpha=0.05, lag=None)
  acf1         statsmodels.tsa.stattools.acf(resid, nlags=1, fft=False)[1]
  ar1_yule_walker  statsmodels yule_walker(resid, order=1, method="mle")[0][0]
  (resid = OLS residuals from the statsmodels fit)
"""

import json
import os
import sys
import warnings
from fractions import Fraction

import numpy as np
import scipy
import scipy.stats as st
import statsmodels
import statsmodels.api as sm
from statsmodels.regression.linear_model import yule_walker
from statsmodels.tsa.stattools import acf
import pymannkendall as mk

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(
    REPO, "crates", "leakhound-analysis", "tests", "fixtures", "reference.json"
)

T_DFS = [1, 2, 5, 10, 30, 100, 1000]
T_PS = [0.975, 0.995]
NORMAL_PS = [0.975, 0.8, 0.995]
HAC_SPECS = [(0, False), (2, False), (5, False), (2, True)]


def f(v):
    """Plain Python float (json writes it with repr = shortest round-trip)."""
    v = float(v)
    if not np.isfinite(v):
        raise ValueError(f"non-finite value {v!r} in reference output")
    return v


def rounded(a, decimals):
    return [float(v) for v in np.round(np.asarray(a, dtype=float), decimals)]


# ---------------------------------------------------------------- cases
def make_cases():
    cases = []

    # 1. clean line, regular x, small gaussian noise
    rng = np.random.default_rng(1001)
    n = 30
    x = np.arange(n, dtype=float)
    y = 2.0 + 1.5 * x + rng.normal(0.0, 0.1, n)
    cases.append(("clean_regular", rounded(x, 6), rounded(y, 6),
                  "y = 2 + 1.5 x + N(0, 0.1^2), x = 0..29"))

    # 2. irregular x: sorted uniform random times
    rng = np.random.default_rng(1002)
    n = 40
    x = np.sort(rng.uniform(0.0, 100.0, n))
    y = 3.0 + 0.2 * x + rng.normal(0.0, 0.5, n)
    cases.append(("irregular_x", rounded(x, 6), rounded(y, 6),
                  "x = sorted U(0,100), y = 3 + 0.2 x + N(0, 0.5^2)"))

    # 3. AR(1) noise, phi = 0.8, around a slope
    rng = np.random.default_rng(1003)
    n = 120
    burn = 200
    w = rng.normal(0.0, 1.0, n + burn)
    e = np.zeros(n + burn)
    for t in range(1, n + burn):
        e[t] = 0.8 * e[t - 1] + w[t]
    e = e[burn:]
    x = np.arange(n, dtype=float)
    y = 5.0 + 0.3 * x + e
    cases.append(("ar1_phi08", rounded(x, 6), rounded(y, 6),
                  "y = 5 + 0.3 x + e, e AR(1) phi=0.8 with N(0,1) innovations, x = 0..119"))

    # 4. integer-valued y with many ties
    rng = np.random.default_rng(1004)
    n = 50
    x = np.arange(n, dtype=float)
    y = np.round(0.08 * x + rng.normal(0.0, 0.7, n))
    cases.append(("integer_ties", rounded(x, 6), rounded(y, 0),
                  "y = round(0.08 x + N(0, 0.7^2)), x = 0..49 (many ties in y)"))

    # 5. flat series with noise
    rng = np.random.default_rng(1005)
    n = 40
    x = np.arange(n, dtype=float)
    y = 10.0 + rng.normal(0.0, 1.0, n)
    cases.append(("flat_noise", rounded(x, 6), rounded(y, 6),
                  "y = 10 + N(0, 1), x = 0..39 (true slope 0)"))

    # 6. decreasing series
    rng = np.random.default_rng(1006)
    n = 25
    x = 2.5 * np.arange(n, dtype=float)
    y = 100.0 - 1.7 * x + rng.normal(0.0, 2.0, n)
    cases.append(("decreasing", rounded(x, 6), rounded(y, 6),
                  "x = 0, 2.5, ..., 60; y = 100 - 1.7 x + N(0, 2^2)"))

    # 7. a few large outliers (Theil-Sen / Siegel should resist them)
    rng = np.random.default_rng(1007)
    n = 30
    x = np.arange(n, dtype=float)
    y = 1.0 + 0.5 * x + rng.normal(0.0, 0.2, n)
    y[4] += 25.0
    y[11] -= 15.0
    y[20] += 40.0
    y[27] += 30.0
    cases.append(("outliers", rounded(x, 6), rounded(y, 6),
                  "y = 1 + 0.5 x + N(0, 0.2^2), x = 0..29, outliers +25@4, -15@11, +40@20, +30@27"))

    # 8. realistic units: unix seconds ~1.7e9, bytes ~2.5e8, ~100 B/s
    rng = np.random.default_rng(1008)
    n = 60
    t0 = 1_700_000_000.0
    x = t0 + np.sort(rng.uniform(0.0, 3600.0, n))
    x = np.round(x, 3)  # millisecond timestamps
    y = 2.5e8 + 100.0 * (x - t0) + rng.normal(0.0, 5000.0, n)
    cases.append(("realistic_units", rounded(x, 3), rounded(y, 0),
                  "x = 1.7e9 + sorted U(0,3600) s (ms resolution), "
                  "y = 2.5e8 + 100 (x - 1.7e9) + N(0, 5000^2) bytes, integer bytes",
                  t0))
    return cases


# ------------------------------------------------------------ estimators
def exact_ols(x, y):
    xs = [Fraction(v) for v in x]
    ys = [Fraction(v) for v in y]
    n = len(xs)
    mx = sum(xs) / n
    my = sum(ys) / n
    sxx = sum((a - mx) ** 2 for a in xs)
    sxy = sum((a - mx) * (b - my) for a, b in zip(xs, ys))
    slope = sxy / sxx
    intercept = my - slope * mx
    return {"slope": f(slope), "intercept": f(intercept)}


def compute_case(name, x, y, description, x_shift=0.0):
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    n = len(xa)
    assert np.all(np.diff(xa) > 0), name

    out = {"name": name, "description": description, "n": n, "x": x, "y": y}

    # OLS (scipy.linregress) + t interval
    lr = st.linregress(xa, ya)
    df = n - 2
    tq = st.t.ppf(0.975, df)
    out["ols"] = {
        "slope": f(lr.slope),
        "intercept": f(lr.intercept),
        "slope_se": f(lr.stderr),
        "intercept_se": f(lr.intercept_stderr),
        "rvalue": f(lr.rvalue),
        "df": df,
        "t975": f(tq),
        "ci95": [f(lr.slope - tq * lr.stderr), f(lr.slope + tq * lr.stderr)],
    }
    out["ols_exact"] = exact_ols(x, y)

    # statsmodels OLS / HAC.
    # statsmodels solves least squares with pinv (SVD, rcond cut-off); with
    # raw unix-second x (~1.7e9) the design [1, x] has singular values
    # ~1.3e10 and ~5e-6, the small one is truncated as "rank deficient" and
    # the fit is garbage (slope 0.147 instead of 100.9).  So for that case
    # the regression is run on x - x_shift (an exact f64 subtraction) and
    # the intercept / its HAC variance are mapped back with T = [[1,-c],[0,1]]
    # (the sandwich is exactly equivariant under this reparametrisation:
    # residuals are identical, scores transform linearly).
    xs = xa - x_shift
    assert np.all(xs + x_shift == xa), "x_shift subtraction must be exact"
    X = sm.add_constant(xs)
    base = sm.OLS(ya, X).fit()
    resid = np.asarray(base.resid)
    exact = out["ols_exact"]["slope"]
    assert abs(base.params[1] - exact) <= 1e-9 * abs(exact) + 1e-12, (
        name, base.params[1], exact)
    T = np.array([[1.0, -x_shift], [0.0, 1.0]])
    hac = []
    for maxlags, corr in HAC_SPECS:
        r = sm.OLS(ya, X).fit(
            cov_type="HAC",
            cov_kwds={"maxlags": maxlags, "use_correction": corr,
                      "kernel": "bartlett"},
        )
        params = T @ np.asarray(r.params)
        cov = T @ np.asarray(r.cov_params()) @ T.T
        hac.append({
            "maxlags": maxlags,
            "use_correction": corr,
            "slope": f(params[1]),
            "slope_se": f(np.sqrt(cov[1, 1])),
            "intercept": f(params[0]),
            "intercept_se": f(np.sqrt(cov[0, 0])),
        })
    out["hac"] = hac
    if x_shift != 0.0:
        out["hac_x_shift"] = f(x_shift)

    # Theil-Sen (scipy)
    ts = st.theilslopes(ya, xa, alpha=0.95, method="separate")
    ts_joint = st.theilslopes(ya, xa, alpha=0.95, method="joint")
    out["theil_sen"] = {
        "method": "separate",
        "alpha": 0.95,
        "slope": f(ts.slope),
        "intercept": f(ts.intercept),
        "low": f(ts.low_slope),
        "high": f(ts.high_slope),
        "intercept_joint": f(ts_joint.intercept),
    }

    # Siegel repeated medians
    sg = st.siegelslopes(ya, xa)
    out["siegel"] = {"method": "hierarchical", "slope": f(sg.slope),
                     "intercept": f(sg.intercept)}

    # Mann-Kendall (pymannkendall)
    m = mk.original_test(ya, alpha=0.05)
    out["mann_kendall"] = {
        "trend": str(m.trend),
        "h": bool(m.h),
        "p": f(m.p),
        "z": f(m.z),
        "tau": f(m.Tau),
        "s": f(m.s),
        "var_s": f(m.var_s),
        "slope": f(m.slope),
        "intercept": f(m.intercept),
    }
    hr = mk.hamed_rao_modification_test(ya)
    out["hamed_rao"] = {
        "trend": str(hr.trend),
        "h": bool(hr.h),
        "p": f(hr.p),
        "z": f(hr.z),
        "var_s": f(hr.var_s),
        "n_ns": f(hr.var_s / m.var_s),
    }

    # residual autocorrelation
    out["acf1"] = f(acf(resid, nlags=1, fft=False)[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        rho, _sigma = yule_walker(resid, order=1, method="mle")
    out["ar1_yule_walker"] = f(rho[0])
    return out


def main():
    versions = {
        "scipy": scipy.__version__,
        "statsmodels": statsmodels.__version__,
        "pymannkendall": mk.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
    }
    doc = {
        "generated_by": "python3 tools/reference/make_reference.py",
        "versions": versions,
        "conventions": {
            "ols": "scipy.stats.linregress; ci95 = slope -/+ t.ppf(0.975, n-2) * slope_se",
            "ols_exact": "exact rational least squares on the f64 inputs, rounded once to f64",
            "hac": "statsmodels OLS(y, add_constant(x)).fit(cov_type='HAC', cov_kwds={maxlags, use_correction, kernel='bartlett'}); "
                   "bartlett weights w_j = 1 - j/(L+1); use_correction=true multiplies the covariance by n/(n-2). "
                   "If a case has hac_x_shift, statsmodels was fitted on x - hac_x_shift (raw fit is rank-deficient garbage) "
                   "and intercept/intercept_se were mapped back to raw x.",
            "theil_sen": "scipy.stats.theilslopes(y, x, alpha=0.95, method='separate'): intercept = median(y) - slope*median(x); "
                         "intercept_joint = median(y - slope*x)",
            "siegel": "scipy.stats.siegelslopes(y, x, method='hierarchical'): intercept = median(y - slope*x)",
            "mann_kendall": "pymannkendall.original_test(y, alpha=0.05); slope/intercept use index 0..n-1 as x "
                            "(intercept = median(y) - median(0..n-1) * slope)",
            "hamed_rao": "pymannkendall.hamed_rao_modification_test(y) (alpha=0.05, lag=None => all lags 1..n-1); n_ns = var_s / original var_s",
            "acf1": "statsmodels acf(resid, nlags=1, fft=False)[1] of OLS residuals",
            "ar1_yule_walker": "statsmodels yule_walker(resid, order=1, method='mle')[0][0]",
        },
        "t_quantiles": [
            {"df": d, "p": p, "q": f(st.t.ppf(p, d))} for d in T_DFS for p in T_PS
        ],
        "normal_quantiles": [{"p": p, "q": f(st.norm.ppf(p))} for p in NORMAL_PS],
        "cases": [compute_case(*c) for c in make_cases()],
    }

    # self-check: the x_shift reparametrisation reproduces the unshifted fit
    c0 = make_cases()[0]  # integer x: the shift is exact
    a = compute_case(*c0[:4])["hac"]
    b = compute_case(*c0[:4], x_shift=1000.0)["hac"]
    for ea, eb in zip(a, b):
        for k in ("slope", "slope_se", "intercept", "intercept_se"):
            assert abs(ea[k] - eb[k]) <= 1e-9 * abs(ea[k]), (k, ea[k], eb[k])

    text = json.dumps(doc, indent=1, allow_nan=False) + "\n"
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as fh:
        fh.write(text)

    # ---- sanity check + summary
    with open(OUT) as fh:
        back = json.load(fh)
    assert back == doc
    size = os.path.getsize(OUT)
    print(f"wrote {os.path.relpath(OUT, REPO)} ({size} bytes)")
    print("versions:", json.dumps(versions))
    hdr = f"{'case':16} {'n':>4} {'ols slope':>13} {'exact-ols rel':>13} {'theil-sen':>13} {'siegel':>13} {'mk trend':>10} {'mk p':>10} {'hr p':>10} {'acf1':>7}"
    print(hdr)
    for c in back["cases"]:
        ex = c["ols_exact"]["slope"]
        rel = abs(c["ols"]["slope"] - ex) / abs(ex) if ex else abs(c["ols"]["slope"])
        print(f"{c['name']:16} {c['n']:>4} {c['ols']['slope']:>13.6g} {rel:>13.2e} "
              f"{c['theil_sen']['slope']:>13.6g} {c['siegel']['slope']:>13.6g} "
              f"{c['mann_kendall']['trend']:>10} {c['mann_kendall']['p']:>10.3g} "
              f"{c['hamed_rao']['p']:>10.3g} {c['acf1']:>7.3f}")
    if size > 60_000:
        print(f"WARNING: fixture is {size} bytes (> 60 KB)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
