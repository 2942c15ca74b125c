"""trigdeploy's fast ap_fixed headers against the vendor's, value by value.

One C++ program is compiled twice, once against ``cxx/fast_ap`` and once against the ``ap_``
headers hls4ml ships, and the two outputs must be identical text: every conversion (from double,
from narrower/wider/signed/unsigned fixed point, from products, sums and differences), every
comparison and every integer conversion, printed as exact hexadecimal doubles. The target types
cover all seven quantization modes against all four supported overflow modes, negative and
beyond-width integer bits, 1-bit and 64-bit widths. The fast build runs under the undefined-behaviour
sanitizer, so the result cannot depend on how an optimiser treats an overflow.
"""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import pytest

from trigdeploy.cxx.harness import FAST_AP
from trigdeploy.cxx.headers import ap_include

# two programs of every type and mode compiled (41 s): CI runs make test-slow
pytestmark = pytest.mark.slow

Q_MODES = ("AP_RND", "AP_RND_ZERO", "AP_RND_MIN_INF", "AP_RND_INF", "AP_RND_CONV", "AP_TRN", "AP_TRN_ZERO")
O_MODES = ("AP_SAT", "AP_SAT_ZERO", "AP_SAT_SYM", "AP_WRAP")
# (W, I, signed): every mode pair on the first four, the hls4ml-typical pairs on the rest
FULL = ((8, 5, True), (8, 3, False), (6, 0, True), (5, -2, True))
SOME = (
    (6, 1, True),
    (16, 6, True),
    (18, 8, True),
    (33, 25, True),
    (1, 1, False),
    (2, 1, True),
    (7, 10, True),
    (12, 12, False),
    (32, 16, True),
    (53, 20, True),
    (64, 32, True),
    (63, 40, False),
)
SOME_MODES = (
    ("AP_TRN", "AP_WRAP"),
    ("AP_RND_CONV", "AP_SAT"),
    ("AP_RND", "AP_SAT_SYM"),
    ("AP_TRN_ZERO", "AP_SAT_ZERO"),
)

PROGRAM = r"""
#include "ap_fixed.h"
#include "ap_int.h"
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

typedef ap_fixed<20, 8> A;
typedef ap_ufixed<12, 3> B;
typedef ap_fixed<40, 20, AP_RND, AP_SAT> C;
typedef ap_int<16> D;

static std::vector<double> grid(int frac, double lo, double hi, int n, unsigned seed) {
    std::mt19937_64 g(seed);
    std::uniform_real_distribution<double> u(lo, hi);
    std::vector<double> v;
    for (int i = 0; i < n; ++i) v.push_back(std::ldexp(std::floor(std::ldexp(u(g), frac)), -frac));
    return v;
}

template <class T> static std::vector<double> doubles_for() {
    const int F = T::width - T::iwidth;
    std::vector<double> v = {0.0, -0.0, 1e-300, -1e-300, 1e30, -1e30, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0};
    std::mt19937_64 g(F + 97 * T::width);
    std::normal_distribution<double> n(0, 1);
    for (int e = -12; e <= 70; e += 3)
        for (int k = 0; k < 3; ++k) v.push_back(std::ldexp(n(g), e));
    for (int k = -6; k <= 6; ++k) {  // exact halves, quarters and near-halves at the target's LSB
        v.push_back(std::ldexp(k + 0.5, -F));
        v.push_back(std::ldexp(k + 0.25, -F));
        v.push_back(std::ldexp(k + 0.75, -F));
        v.push_back(std::nextafter(std::ldexp(k + 0.5, -F), 1e300));
        v.push_back(std::nextafter(std::ldexp(k + 0.5, -F), -1e300));
    }
    for (int s = -1; s <= 1; s += 2)  // around the range ends
        for (int k = -3; k <= 3; ++k) v.push_back(s * std::ldexp(1.0, T::iwidth - 1) + std::ldexp(k * 0.5, -F));
    return v;
}

template <class X> static void show(const X& x) { std::printf("%a ", x.to_double()); }

// r += b forms the sum type of r and b, which the fast headers hold only up to 64 bits
template <class T, bool fits = (T::width + T::iwidth <= 100 && T::width <= 48)> struct accumulate {
    static void run(T& r, const B& b) { r += b; }
};
template <class T> struct accumulate<T, false> {
    static void run(T&, const B&) {}
};

// comparisons whose common type exceeds 62 bits are refused by the fast headers (see cmp there)
constexpr int imax(int a, int b) { return a > b ? a : b; }
constexpr int logic_w(int w, int i, bool s, int w2, int i2, bool s2) {
    return imax(i + (s2 && !s), i2 + (s && !s2)) + imax(w - i, w2 - i2);
}
template <class T> struct signed_type;
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N> struct signed_type<ap_fixed<W, I, Q, O, N> > {
    static const bool value = true;
};
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N> struct signed_type<ap_ufixed<W, I, Q, O, N> > {
    static const bool value = false;
};
template <class T> constexpr bool comparable() {
    return logic_w(T::width, T::iwidth, signed_type<T>::value, 32, 32, true) <= 62 &&
           logic_w(T::width, T::iwidth, signed_type<T>::value, 20, 8, true) <= 62;
}
template <class T, bool fits = comparable<T>()> struct compare {
    static void run(const T& t, const A& a) {
        std::printf("%d%d%d%d%d ", t > 0, t < a, t == a, t >= -1, t != 2);
    }
};
template <class T> struct compare<T, false> {
    static void run(const T&, const A&) {}
};
// the vendor's integer conversion reads an uninitialised word when there are no integer bits
// (I < 0), so there is nothing to compare there
template <class T, bool defined = (T::iwidth >= 0)> struct integer {
    static void run(const T& t) {
        ap_int<8> i8 = t; ap_uint<4> u4 = t;
        std::printf("%d %lld %lld ", t.to_int(), (long long)i8.to_int(), (long long)u4.to_int());
    }
};
template <class T> struct integer<T, false> {
    static void run(const T&) {}
};

// a table of constants, as conifer writes its trees: the fast headers must initialise it at compile
// time (constexpr fails to compile otherwise), and to the values the vendor computes at run time
#ifdef TD_FAST_AP_FIXED_H
#define TD_TABLE constexpr
#else
#define TD_TABLE static const
#endif
template <class T> static void table() {
    TD_TABLE T t[] = {0.0, -0.0, 0.5, -0.5, 0.3, -0.3, 1.0 / 3, -2.75, 3.0009765625, -3.0009765625, 100.126, -999.9,
                      7, -7, 0, 1, -1, 1000};
    for (const T& x : t) show(x);
}

template <class T> static void check(const char* name) {
    std::printf("%s double:", name);
    for (double d : doubles_for<T>()) { T t = d; show(t); }
    table<T>();
    std::printf("\n%s fixed:", name);
    for (double d : grid(12, -300, 300, 40, 1)) { A a = d; T t = a; show(t); }
    for (double d : grid(9, 0, 8, 40, 2)) { B b = d; T t = b; show(t); }
    for (double d : grid(20, -6e5, 6e5, 40, 3)) { C c = d; T t = c; show(t); }
    for (double d : grid(0, -4e4, 4e4, 20, 4)) { D i = d; T t = i; show(t); }
    std::printf("\n%s arith:", name);
    std::vector<double> av = grid(12, -300, 300, 30, 5), bv = grid(9, 0, 8, 30, 6);
    for (size_t i = 0; i < av.size(); ++i) {
        A a = av[i]; B b = bv[i];
        T p = a * b; T s = a + b; T m = b - a; T ia = a * 3; T r = a; accumulate<T>::run(r, b);
        show(p); show(s); show(m); show(ia); show(r);
    }
    std::printf("\n%s cmp+int:", name);
    for (double d : doubles_for<T>()) {
        T t = d; A a = d;
        compare<T>::run(t, a);
        integer<T>::run(t);
    }
    std::printf("\n");
}

int main() {
@CHECKS@
    return 0;
}
"""


def _types():
    out = [(w, i, s, q, o) for (w, i, s) in FULL for q, o in itertools.product(Q_MODES, O_MODES)]
    out += [(w, i, s, q, o) for (w, i, s) in SOME for q, o in SOME_MODES]
    return out


# the fast headers are built with the undefined-behaviour sanitizer, aborting on the first report:
# an overflow or out-of-range shift in them would otherwise only show under some optimisation level.
# The vendor headers are the reference, built at -O0: 69 s of compile instead of 104-150 s at -O1 (the two
# compile side by side, so the slower bounds the test), the same values for a program without undefined behaviour.
BUILDS = {
    "fast": (FAST_AP, ("-O1", "-fsanitize=undefined", "-fno-sanitize-recover=all")),
    "vendor": (Path(ap_include()), ("-O0",)),
}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Both programs' outputs, fast first; the two compiles run side by side."""
    tmp = tmp_path_factory.mktemp("fast_ap")
    checks = "\n".join(
        f'    check<ap_{"" if s else "u"}fixed<{w}, {i}, {q}, {o}> >("{w},{i},{s},{q},{o}");'
        for w, i, s, q, o in _types()
    )
    src = tmp / "check.cpp"
    src.write_text(PROGRAM.replace("@CHECKS@", checks))
    procs = {
        name: subprocess.Popen(
            ["g++", *extra, "-std=c++14", "-w", f"-I{include}", str(src), "-o", str(tmp / name)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, (include, extra) in BUILDS.items()
    }
    for name, p in procs.items():
        log, _ = p.communicate()
        assert p.returncode == 0, f"{name} build failed:\n{log[-2000:]}"
    runs = {name: subprocess.run([str(tmp / name)], capture_output=True, text=True) for name in BUILDS}
    for name, r in runs.items():
        assert r.returncode == 0, f"{name}: exit {r.returncode}: {r.stderr[-2000:]}"
    return runs["fast"].stdout, runs["vendor"].stdout


def test_every_value_equals_the_vendor_headers(outputs):
    fast, vendor = outputs
    lines_f, lines_v = fast.splitlines(), vendor.splitlines()
    assert len(lines_f) == len(lines_v) == 4 * len(_types())
    for lf, lv in zip(lines_f, lines_v):
        if lf != lv:
            label = lf.split(":")[0]
            first = next(k for k, (a, b) in enumerate(zip(lf.split(), lv.split())) if a != b)
            pytest.fail(f"{label}: item {first}: fast {lf.split()[first]} vendor {lv.split()[first]}")


def test_the_comparison_can_fail(outputs):
    """The check above is not vacuous: types differ from each other, and saturation shows."""
    fast, _ = outputs
    lines = fast.splitlines()
    assert len(set(line.split(":", 1)[1] for line in lines[0::4])) > len(_types()) // 2
