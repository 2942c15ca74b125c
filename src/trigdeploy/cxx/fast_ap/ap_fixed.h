// trigdeploy fast ap_fixed: a drop-in for the subset of Xilinx's ap_fixed.h/ap_int.h that hls4ml's
// io_parallel latency layers use, for widths up to 64 bits, in plain int32/int64 arithmetic
// (__int128 off the hot paths).
//
// Why: the vendor headers spend ~20 ns per multiply-accumulate in C simulation (partial stores and
// reloads of ap_private words), which makes a whole-test-set csim slow. The arithmetic here is the
// same specification: exact products and sums in the vendor's result widths, and on every
// assignment quantization (all seven ap_q_mode values) followed by overflow handling (AP_WRAP,
// AP_SAT, AP_SAT_ZERO, AP_SAT_SYM) of the exact value.
//
// Anything outside that subset (wider than 64 bits, AP_WRAP_SM, saturation bits, bit/range
// references, division) is a compile error, never a silent approximation: trigdeploy then uses the
// vendor headers. trigdeploy checks every fast build against the vendor build (tests/csim).
#ifndef TD_FAST_AP_FIXED_H
#define TD_FAST_AP_FIXED_H

#include <cmath>
#include <cstdint>
#include <iostream>
#include <type_traits>

enum ap_q_mode { AP_RND, AP_RND_ZERO, AP_RND_MIN_INF, AP_RND_INF, AP_RND_CONV, AP_TRN, AP_TRN_ZERO };
enum ap_o_mode { AP_SAT, AP_SAT_ZERO, AP_SAT_SYM, AP_WRAP, AP_WRAP_SM };

namespace td_ap {
typedef __int128 i128;

constexpr int imax(int a, int b) { return a > b ? a : b; }
constexpr double pow2(int e) { return e == 0 ? 1.0 : e > 0 ? 2.0 * pow2(e - 1) : 0.5 * pow2(e + 1); }

// Whether quantization mode Q adds one to floor(v * 2^-d), given the sign of v, whether the dropped
// remainder is nonzero, how it compares with half of the last kept bit, and the floor's parity.
template <ap_q_mode Q> constexpr bool rounds_up(bool neg, bool inexact, bool gt_half, bool eq_half, bool odd) {
    switch (Q) {
    case AP_TRN_ZERO: return neg && inexact;
    case AP_RND: return gt_half || eq_half;
    case AP_RND_ZERO: return gt_half || (eq_half && neg);
    case AP_RND_MIN_INF: return gt_half;
    case AP_RND_INF: return gt_half || (eq_half && !neg);
    case AP_RND_CONV: return gt_half || (eq_half && odd);
    default: return false;  // AP_TRN
    }
}

// Overflow handling (mode O) of a quantized value q onto W bits, in the type T that holds q.
// T = int64_t does not hold the unsigned 64-bit maximum; fit leaves that type to fit_wide.
template <int W, bool S, ap_o_mode O, class T> constexpr int64_t overflow(T q) {
    if (O == AP_WRAP) {
        // keep the low W bits, sign- or zero-extended (as mask, xor, subtract: no 64-bit arithmetic
        // shift, which SIMD units before AVX-512 lack)
        if (W == 64) return (int64_t)(uint64_t)q;
        constexpr uint64_t mask = ((uint64_t)1 << (W % 64)) - 1;
        constexpr uint64_t sign = S ? (uint64_t)1 << (W - 1) : 0;
        return (int64_t)((((uint64_t)q & mask) ^ sign) - sign);
    }
    constexpr T hi = S ? (T)(((uint64_t)1 << (W - 1)) - 1) : (T)(W == 64 ? ~(uint64_t)0 : ((uint64_t)1 << (W % 64)) - 1);
    constexpr T lo = S ? -hi - 1 : 0;
    if (q > hi) return O == AP_SAT_ZERO ? 0 : (int64_t)hi;
    if (q < lo) return O == AP_SAT_ZERO ? 0 : (O == AP_SAT_SYM && S ? (int64_t)-hi : (int64_t)lo);
    if (O == AP_SAT_SYM && S && q == lo) return (int64_t)-hi;
    return (int64_t)q;
}

// Quantize the exact value v * 2^-F2 onto F fractional bits (mode Q), then fit W bits (mode O):
// the general case, for values up to 2^100 (C integers, doubles); ap_ values go through fit below.
template <int W, int F, bool S, ap_q_mode Q, ap_o_mode O, int F2>
constexpr int64_t fit_wide(i128 v) {
    static_assert(W >= 1 && W <= 64, "trigdeploy fast ap_fixed: width must be 1..64");
    i128 q = 0;
    if (F2 > F) {
        constexpr int d0 = F2 - F;
        constexpr int d = d0 > 100 ? 100 : d0;  // |v| < 2^99 here, so a shift of 100 already leaves only the sign
        const i128 fl = v >> d;
        const i128 rem = v - fl * ((i128)1 << d);
        const i128 half = (i128)1 << (d - 1);
        q = fl + rounds_up<Q>(v < 0, rem != 0, rem > half, rem == half, (fl & 1) != 0);
    } else {
        constexpr int sh = F - F2;
        if (O == AP_WRAP) {
            // only the low W <= 64 bits survive
            const uint64_t u = sh >= 64 ? 0 : ((uint64_t)v << (sh >= 64 ? 0 : sh));
            q = (i128)u;
        } else {
            constexpr int room = sh >= 120 ? 0 : 120 - sh;
            const i128 mag = v < 0 ? -v : v;
            if (sh >= 120 || (mag >> room) != 0)
                q = v > 0 ? ((i128)1 << 100) : (v < 0 ? -((i128)1 << 100) : 0);  // beyond any W <= 64 range
            else
                q = v * ((i128)1 << (sh >= 120 ? 0 : sh));
        }
    }
    return overflow<W, S, O>(q);
}

// The same for a value held in 64 bits (every ap_ value here, and the rounded doubles). I2/S2
// describe the source's integer bits and sign where it is a fixed-point type (I2 = 1024: unknown);
// a source that fits the target loses nothing and needs neither step. A layer's hot paths (lossless
// moves, truncation or rounding onto fewer fractional bits, wrapping, saturation at equal scale)
// stay in 64-bit arithmetic, which compilers vectorize; the rest goes through fit_wide.
template <int W, int F, bool S, ap_q_mode Q, ap_o_mode O, int F2, int I2 = 1024, bool S2 = true>
constexpr int64_t fit(int64_t v) {
    static_assert(W >= 1 && W <= 64, "trigdeploy fast ap_fixed: width must be 1..64");
    // (AP_SAT_SYM still moves a signed source's minimum to -max when the ranges' minima meet)
    constexpr bool lossless = I2 < 1024 && F2 <= F && (S ? W - F >= I2 + !S2 : (!S2 && W - F >= I2)) &&
                              !(O == AP_SAT_SYM && S && S2 && W - F <= I2);
    if (lossless) return (int64_t)((uint64_t)v << (lossless ? F - F2 : 0));
    constexpr int d = F2 - F;  // fractional bits to drop (< 0: to add)
    if (d > 62 || d < 0 || (W == 64 && !S)) return fit_wide<W, F, S, Q, O, F2>(v);
    int64_t q = v;
    if (d > 0) {
        constexpr int dd = d > 0 && d <= 62 ? d : 1;
        const int64_t fl = v >> dd;  // floor
        const int64_t rem = v & (((int64_t)1 << dd) - 1);
        const int64_t half = (int64_t)1 << (dd - 1);
        q = fl + rounds_up<Q>(v < 0, rem != 0, rem > half, rem == half, (fl & 1) != 0);
    }
    return overflow<W, S, O>(q);
}

// An integral C type seen as a fixed-point number with no fractional bits.
template <class T> struct int_traits {
    static const int W = sizeof(T) * 8;
    static const bool S = std::is_signed<T>::value;
};
template <> struct int_traits<bool> {
    static const int W = 1;
    static const bool S = false;
};
template <class T> using if_int = typename std::enable_if<std::is_integral<T>::value, int>::type;
}  // namespace td_ap

template <int W, int I, bool S = true, ap_q_mode Q = AP_TRN, ap_o_mode O = AP_WRAP, int N = 0> struct ap_fixed_base;

namespace td_ap {
// the fixed-point type a C integer takes in mixed arithmetic and comparisons
template <class T> using int_fixed = ap_fixed_base<int_traits<T>::W, int_traits<T>::W, int_traits<T>::S>;
}

template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N> struct ap_fixed_base {
    static_assert(N == 0, "trigdeploy fast ap_fixed: saturation bits (N > 0) are not supported");
    static_assert(O != AP_WRAP_SM, "trigdeploy fast ap_fixed: AP_WRAP_SM is not supported");
    static const int width = W;
    static const int iwidth = I;
    static const int F = W - I;
    static const ap_q_mode qmode = Q;
    static const ap_o_mode omode = O;
    static constexpr double SCALE = td_ap::pow2(F), INV_SCALE = td_ap::pow2(-F);

    // the value times 2^F, sign- or zero-extended from W bits; in 32 bits where that holds it, so
    // that a layer's narrow weights, inputs and products pack twice as densely into SIMD registers
    typedef typename std::conditional<(W + !S <= 32), int32_t, int64_t>::type storage;
    storage V;

    template <int W2, int I2, bool S2> struct RType {
        enum {
            F2 = W2 - I2,
            mult_w = W + W2, mult_i = I + I2, mult_s = S || S2,
            plus_i = td_ap::imax(I + (S2 && !S), I2 + (S && !S2)) + 1,
            plus_w = plus_i + td_ap::imax(F, F2), plus_s = S || S2,
            minus_i = plus_i, minus_w = plus_w, minus_s = true,
            logic_i = td_ap::imax(I + (S2 && !S), I2 + (S && !S2)),
            logic_w = logic_i + td_ap::imax(F, F2), logic_s = S || S2
        };
        typedef ap_fixed_base<mult_w, mult_i, mult_s> mult;
        typedef ap_fixed_base<plus_w, plus_i, plus_s> plus;
        typedef ap_fixed_base<minus_w, minus_i, minus_s> minus;
        typedef ap_fixed_base<logic_w, logic_i, logic_s> logic;
    };

    ap_fixed_base() {}
    template <int W2, int I2, bool S2, ap_q_mode Q2, ap_o_mode O2, int N2>
    constexpr ap_fixed_base(const ap_fixed_base<W2, I2, S2, Q2, O2, N2>& o)
        : V(td_ap::fit<W, F, S, Q, O, W2 - I2, I2, S2>(o.V)) {}
    template <class T, td_ap::if_int<T> = 0>
    constexpr ap_fixed_base(T x) : V(td_ap::fit_wide<W, F, S, Q, O, 0>((td_ap::i128)x)) {}
    // constexpr, so that tables of constants (conifer's trees) are initialised at compile time
    constexpr ap_fixed_base(double d) : V(from_double(d)) {}
    constexpr ap_fixed_base(float f) : V(from_double(f)) {}

    template <int W2, int I2, bool S2, ap_q_mode Q2, ap_o_mode O2, int N2>
    ap_fixed_base& operator=(const ap_fixed_base<W2, I2, S2, Q2, O2, N2>& o) {
        V = td_ap::fit<W, F, S, Q, O, W2 - I2, I2, S2>(o.V);
        return *this;
    }
    template <class T, td_ap::if_int<T> = 0> ap_fixed_base& operator=(T x) {
        V = td_ap::fit_wide<W, F, S, Q, O, 0>((td_ap::i128)x);
        return *this;
    }
    ap_fixed_base& operator=(double d) { V = from_double(d); return *this; }
    ap_fixed_base& operator=(float f) { V = from_double(f); return *this; }

    static constexpr storage from_double(double d) {
        // fast exact path: scaling by 2^F is exact away from overflow and subnormals, and so are
        // floor() and the remainder, which decides the rounding
        const double t = d * SCALE;
        const double a = t < 0 ? -t : t;
        if (a < 4611686018427387904.0 && (a > 1e-280 || a == 0)) {
            // trunc(t) and t - trunc(t) are exact; floor(t) is, but t - floor(t) is not for small
            // negative t, so the remainder is compared through the truncated fraction
            const int64_t ti = (int64_t)t;  // truncation, exact below 2^62 (and no libm call)
            const double fr = t - (double)ti;
            const bool neg = fr < 0;
            const int64_t f = ti - neg;  // floor(t)
            const bool gt = neg ? fr > -0.5 : fr > 0.5, eq = neg ? fr == -0.5 : fr == 0.5;  // rem vs 1/2
            const bool up = td_ap::rounds_up<Q>(t < 0, fr != 0, gt, eq, (f & 1) != 0);
            return td_ap::fit<W, F, S, AP_TRN, O, F>(f + up);
        }
        return from_double_exact(d);
    }
    // a double is the exact value m * 2^e with a 54-bit signed m
    static storage from_double_exact(double d) {
        if (d == 0 || std::isnan(d)) return 0;
        if (std::isinf(d)) return td_ap::fit_wide<W, F, S, Q, O, 0>(d > 0 ? ((td_ap::i128)1 << 100) : -((td_ap::i128)1 << 100));
        int e;
        const double m = std::frexp(d, &e);  // d = m * 2^e, 0.5 <= |m| < 1
        const int64_t mi = (int64_t)std::ldexp(m, 53);
        // d = mi * 2^(e - 53): fractional bits f2 = 53 - e, at run time
        return from_scaled(mi, 53 - e);
    }
    static storage from_scaled(int64_t mi, int f2) {
        // route the run-time scale to the compile-time quantizer through a shift that keeps it exact
        if (f2 <= F) {
            const int up = F - f2;
            if (up >= 64)  // every bit of mi lands at or above bit 64
                return O == AP_WRAP ? 0 : td_ap::fit_wide<W, F, S, Q, O, F>(mi > 0 ? ((td_ap::i128)1 << 100) : -((td_ap::i128)1 << 100));
            return td_ap::fit_wide<W, F, S, Q, O, F>((td_ap::i128)mi * ((td_ap::i128)1 << up));
        }
        // more fractional bits than F: drop all but 2 + F + 60 of them with a sticky bit, exactly
        const int down = f2 - (F + 62);
        td_ap::i128 v = mi;
        if (down > 0) {
            const td_ap::i128 fl = down >= 100 ? (v < 0 ? -1 : 0) : (v >> down);
            const bool sticky = down >= 100 ? v != 0 : (v - fl * ((td_ap::i128)1 << down)) != 0;
            v = fl * 2 + sticky;  // one extra bit keeps "exactly half" and "more than half" apart
            return td_ap::fit_wide<W, F, S, Q, O, F + 63>(v);
        }
        return td_ap::fit_wide<W, F, S, Q, O, F + 62>(v * ((td_ap::i128)1 << (F + 62 - f2)));
    }

    double to_double() const { return (double)V * INV_SCALE; }
    float to_float() const { return (float)to_double(); }
    // C semantics, towards zero, as the vendor's to_ap_int_base(): except that with no integer bits
    // (I <= 0) it works in a 1-bit signed integer, where a negative value becomes -1
    int64_t to_int64() const {
        const int64_t v = V;
        if (I <= 0) return S && v < 0 ? -1 : 0;
        if (F <= 0) return (int64_t)((td_ap::i128)v * ((td_ap::i128)1 << (F < 0 ? -F : 0)));
        const int64_t t = v >> (F > 63 ? 63 : F);
        return (v < 0 && (v & ((F > 63 ? ~(uint64_t)0 : (((uint64_t)1 << F) - 1)))) != 0) ? t + 1 : t;
    }
    int to_int() const { return (int)to_int64(); }
    unsigned to_uint() const { return (unsigned)to_int64(); }
    long to_long() const { return (long)to_int64(); }
    uint64_t to_uint64() const { return (uint64_t)to_int64(); }

    operator double() const { return to_double(); }
    operator float() const { return to_float(); }
    operator bool() const { return V != 0; }
    operator int() const { return to_int(); }
    operator unsigned() const { return to_uint(); }
    operator long() const { return to_long(); }
    operator unsigned long() const { return (unsigned long)to_int64(); }
    operator long long() const { return to_int64(); }
    operator unsigned long long() const { return to_uint64(); }
    operator short() const { return (short)to_int(); }
    operator unsigned short() const { return (unsigned short)to_int(); }
    operator char() const { return (char)to_int(); }
    operator signed char() const { return (signed char)to_int(); }
    operator unsigned char() const { return (unsigned char)to_int(); }

    template <int W2, int I2, bool S2, ap_q_mode Q2, ap_o_mode O2, int N2>
    typename RType<W2, I2, S2>::mult operator*(const ap_fixed_base<W2, I2, S2, Q2, O2, N2>& o) const {
        typedef typename RType<W2, I2, S2>::mult R;
        R r;
        static_assert(W + W2 <= 64, "trigdeploy fast ap_fixed: product wider than 64 bits");
        typedef typename std::make_unsigned<typename R::storage>::type U;
        r.V = (typename R::storage)((U)V * (U)o.V);  // exact: R holds it
        return r;
    }
    template <int W2, int I2, bool S2, ap_q_mode Q2, ap_o_mode O2, int N2>
    typename RType<W2, I2, S2>::plus operator+(const ap_fixed_base<W2, I2, S2, Q2, O2, N2>& o) const {
        typedef typename RType<W2, I2, S2>::plus R;
        R r;
        static_assert(R::width <= 64, "trigdeploy fast ap_fixed: plus wider than 64 bits");
        r.V = aligned_to<R>() + o.template aligned_to<R>();  // exact: R holds it
        return r;
    }
    template <int W2, int I2, bool S2, ap_q_mode Q2, ap_o_mode O2, int N2>
    typename RType<W2, I2, S2>::minus operator-(const ap_fixed_base<W2, I2, S2, Q2, O2, N2>& o) const {
        typedef typename RType<W2, I2, S2>::minus R;
        R r;
        static_assert(R::width <= 64, "trigdeploy fast ap_fixed: minus wider than 64 bits");
        r.V = aligned_to<R>() - o.template aligned_to<R>();  // exact: R holds it
        return r;
    }
    template <int W2, int I2, bool S2, ap_q_mode Q2, ap_o_mode O2, int N2>
    ap_fixed_base& operator+=(const ap_fixed_base<W2, I2, S2, Q2, O2, N2>& o) { return *this = *this + o; }
    template <int W2, int I2, bool S2, ap_q_mode Q2, ap_o_mode O2, int N2>
    ap_fixed_base& operator-=(const ap_fixed_base<W2, I2, S2, Q2, O2, N2>& o) { return *this = *this - o; }
    template <int W2, int I2, bool S2, ap_q_mode Q2, ap_o_mode O2, int N2>
    ap_fixed_base& operator*=(const ap_fixed_base<W2, I2, S2, Q2, O2, N2>& o) { return *this = *this * o; }

    ap_fixed_base<W + 1, I + 1, true> operator-() const {
        ap_fixed_base<W + 1, I + 1, true> r;
        static_assert(W + 1 <= 64, "trigdeploy fast ap_fixed: negation wider than 64 bits");
        r.V = -(int64_t)V;
        return r;
    }
    ap_fixed_base operator+() const { return *this; }
    bool operator!() const { return V == 0; }

    // the exact value times 2^G (G >= F), for a G where it fits 64 bits
    template <int G> int64_t aligned64() const { return (int64_t)((uint64_t)(int64_t)V << (G - F)); }
    // the same in the storage of a type R that holds it (a sum or difference type)
    template <class R> typename R::storage aligned_to() const {
        typedef typename std::make_unsigned<typename R::storage>::type U;
        return (typename R::storage)((U)(typename R::storage)V << (R::F - F));
    }
    template <int W2, int I2, bool S2, ap_q_mode Q2, ap_o_mode O2, int N2>
    int cmp(const ap_fixed_base<W2, I2, S2, Q2, O2, N2>& o) const {
        enum { G = td_ap::imax(F, W2 - I2) };
        // the vendor compares in the pair's common type; at 64 bits and more it answers wrongly for
        // mixed signs (0 == 0 is false for ap_ufixed<63,40> against ap_fixed<20,8>), so such
        // comparisons are left to the vendor headers
        static_assert(RType<W2, I2, S2>::logic_w <= 62, "trigdeploy fast ap_fixed: comparison wider than 62 bits");
        const int64_t a = aligned64<G>(), b = o.template aligned64<G>();  // both fit: logic_w <= 62
        return (a > b) - (a < b);
    }
};

#define TD_AP_CMP(OP)                                                                              \
    template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N, int W2, int I2, bool S2,      \
              ap_q_mode Q2, ap_o_mode O2, int N2>                                                   \
    inline bool operator OP(const ap_fixed_base<W, I, S, Q, O, N>& a,                              \
                            const ap_fixed_base<W2, I2, S2, Q2, O2, N2>& b) {                      \
        return a.cmp(b) OP 0;                                                                      \
    }                                                                                              \
    template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N, class T, td_ap::if_int<T> = 0> \
    inline bool operator OP(const ap_fixed_base<W, I, S, Q, O, N>& a, T b) {                       \
        return a.cmp(td_ap::int_fixed<T>(b)) OP 0;                                                 \
    }                                                                                              \
    template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N, class T, td_ap::if_int<T> = 0> \
    inline bool operator OP(T b, const ap_fixed_base<W, I, S, Q, O, N>& a) {                       \
        return td_ap::int_fixed<T>(b).cmp(a) OP 0;                                                 \
    }                                                                                              \
    template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N>                                \
    inline bool operator OP(const ap_fixed_base<W, I, S, Q, O, N>& a, double b) {                  \
        return a.to_double() OP b;                                                                 \
    }                                                                                              \
    template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N>                                \
    inline bool operator OP(double b, const ap_fixed_base<W, I, S, Q, O, N>& a) {                  \
        return b OP a.to_double();                                                                 \
    }
TD_AP_CMP(==)
TD_AP_CMP(!=)
TD_AP_CMP(<)
TD_AP_CMP(<=)
TD_AP_CMP(>)
TD_AP_CMP(>=)
#undef TD_AP_CMP

// arithmetic with C integers: the integer is first made the fixed-point type of its width
#define TD_AP_INT_OP(OP)                                                                           \
    template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N, class T, td_ap::if_int<T> = 0> \
    inline auto operator OP(const ap_fixed_base<W, I, S, Q, O, N>& a, T b)                         \
        ->decltype(a OP td_ap::int_fixed<T>(b)) {                                                  \
        return a OP td_ap::int_fixed<T>(b);                                                        \
    }                                                                                              \
    template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N, class T, td_ap::if_int<T> = 0> \
    inline auto operator OP(T b, const ap_fixed_base<W, I, S, Q, O, N>& a)                         \
        ->decltype(td_ap::int_fixed<T>(b) OP a) {                                                  \
        return td_ap::int_fixed<T>(b) OP a;                                                        \
    }
TD_AP_INT_OP(+)
TD_AP_INT_OP(-)
TD_AP_INT_OP(*)
#undef TD_AP_INT_OP

template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N>
inline std::ostream& operator<<(std::ostream& os, const ap_fixed_base<W, I, S, Q, O, N>& x) {
    return os << x.to_double();
}

// hls4ml's load_weights_from_txt reads each weight with >>; its files hold decimals that are exact
// doubles on the weight grid or at most 12 decimals, so strtod then the exact double conversion is
// the vendor's decimal-string conversion
template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N>
inline std::istream& operator>>(std::istream& is, ap_fixed_base<W, I, S, Q, O, N>& x) {
    double d;
    if (is >> d) x = d;
    return is;
}

template <int W, int I, ap_q_mode Q = AP_TRN, ap_o_mode O = AP_WRAP, int N = 0>
struct ap_fixed : ap_fixed_base<W, I, true, Q, O, N> {
    typedef ap_fixed_base<W, I, true, Q, O, N> Base;
    ap_fixed() {}
    template <class T> constexpr ap_fixed(const T& x) : Base(x) {}
    template <class T> ap_fixed& operator=(const T& x) { Base::operator=(x); return *this; }
    ap_fixed& operator=(const ap_fixed& x) { Base::V = x.V; return *this; }
    ap_fixed(const ap_fixed& x) : Base() { Base::V = x.V; }
};

template <int W, int I, ap_q_mode Q = AP_TRN, ap_o_mode O = AP_WRAP, int N = 0>
struct ap_ufixed : ap_fixed_base<W, I, false, Q, O, N> {
    typedef ap_fixed_base<W, I, false, Q, O, N> Base;
    ap_ufixed() {}
    template <class T> constexpr ap_ufixed(const T& x) : Base(x) {}
    template <class T> ap_ufixed& operator=(const T& x) { Base::operator=(x); return *this; }
    ap_ufixed& operator=(const ap_ufixed& x) { Base::V = x.V; return *this; }
    ap_ufixed(const ap_ufixed& x) : Base() { Base::V = x.V; }
};

// ap_int/ap_uint: integers; from a fixed-point value they take its integer part towards zero (C
// semantics, as the vendor's ap_int_base(ap_fixed_base) constructor does), then wrap
template <int W, bool S> struct ap_int_base : ap_fixed_base<W, W, S> {
    typedef ap_fixed_base<W, W, S> Base;
    ap_int_base() {}
    template <int W2, int I2, bool S2, ap_q_mode Q2, ap_o_mode O2, int N2>
    ap_int_base(const ap_fixed_base<W2, I2, S2, Q2, O2, N2>& o) : Base() {
        Base::V = td_ap::fit<W, 0, S, AP_TRN, AP_WRAP, 0>(o.to_int64());
    }
    template <class T, td_ap::if_int<T> = 0> ap_int_base(T x) : Base(x) {}
    ap_int_base(double d) : Base() { Base::V = td_ap::fit<W, 0, S, AP_TRN, AP_WRAP, 0>((int64_t)d); }
    template <class T> ap_int_base& operator=(const T& x) { *this = ap_int_base(x); return *this; }
    ap_int_base& operator=(const ap_int_base& x) { Base::V = x.V; return *this; }
    ap_int_base(const ap_int_base& x) : Base() { Base::V = x.V; }
};

template <int W> struct ap_int : ap_int_base<W, true> {
    ap_int() {}
    template <class T> ap_int(const T& x) : ap_int_base<W, true>(x) {}
    template <class T> ap_int& operator=(const T& x) { ap_int_base<W, true>::operator=(x); return *this; }
};
template <int W> struct ap_uint : ap_int_base<W, false> {
    ap_uint() {}
    template <class T> ap_uint(const T& x) : ap_int_base<W, false>(x) {}
    template <class T> ap_uint& operator=(const T& x) { ap_int_base<W, false>::operator=(x); return *this; }
};

#endif
